package cleaner

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpired(t *testing.T) {
	now := time.Now()
	cl := &cleaner{now: func() time.Time { return now }}
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	cond := func(t certificatesv1.RequestConditionType, at metav1.Time) []certificatesv1.CertificateSigningRequestCondition {
		return []certificatesv1.CertificateSigningRequestCondition{{Type: t, Status: "True", LastUpdateTime: at}}
	}
	cases := []struct {
		name  string
		csr   certificatesv1.CertificateSigningRequest
		clean bool
	}{
		{"fresh pending", certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(time.Hour)}}, false},
		{"old pending", certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(25 * time.Hour)}}, true},
		{"recently denied", certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateDenied, ago(time.Minute))}}, false},
		{"denied long ago", certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateDenied, ago(2*time.Hour))}}, true},
		{"failed long ago", certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateFailed, ago(2*time.Hour))}}, true},
		{"approved long ago, not issued", certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(2 * time.Hour)},
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateApproved, ago(2*time.Hour))}}, false},
	}
	for _, tc := range cases {
		reason, err := cl.expired(&tc.csr)
		if err != nil {
			t.Fatal(err)
		}
		if (reason != "") != tc.clean {
			t.Errorf("%s: reason %q, want clean=%v", tc.name, reason, tc.clean)
		}
	}
}
