package apiserver

import (
	"net/http"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/skiff-k8s/skiff/pkg/apiserver/bootstraptoken"
	"github.com/skiff-k8s/skiff/pkg/join"
)

// The CA bundles joining agents read before they hold any credential, over a
// connection they cannot verify yet: /cacerts is the cluster CA (k3s' path; the
// agent checks it against its token's CA hash), /cacerts/client the client CA the
// kubelet API checks the apiserver's certificate with. Both are public
// certificates; the authorizer lets anyone read them (publicPaths).
const (
	caCertsPath       = join.CACertsPath
	clientCACertsPath = join.ClientCACertsPath
)

// newBootstrapTokenAuthenticator authenticates bootstrap tokens from the
// kube-system Secrets of type bootstrap.kubernetes.io/token, watched by an informer
// of their own (the shared factory would cache every Secret of the cluster). start
// runs it; until it has synced, bootstrap tokens are not authenticated.
func newBootstrapTokenAuthenticator(client kubernetes.Interface, audiences []string) (authenticator.Token, func(stop <-chan struct{})) {
	f := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute,
		informers.WithNamespace(metav1.NamespaceSystem),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)).String()
		}))
	secrets := f.Core().V1().Secrets()
	_ = secrets.Informer() // registered before Start
	a := bootstraptoken.New(secrets.Lister().Secrets(metav1.NamespaceSystem))
	// Bootstrap tokens name no audience: they are good for this server's own.
	return authenticator.WrapAudienceAgnosticToken(audiences, a), f.Start
}

// installCACerts serves the CA bundles of caCertsPath and clientCACertsPath,
// read from their files at each request so that a rotated CA is served.
func installCACerts(s *genericapiserver.GenericAPIServer, serverCA, clientCA string) {
	serve := func(file string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			data, err := os.ReadFile(file)
			if err != nil {
				http.Error(w, "CA bundle unavailable", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(data)
		}
	}
	s.Handler.NonGoRestfulMux.Handle(caCertsPath, serve(serverCA))
	s.Handler.NonGoRestfulMux.Handle(clientCACertsPath, serve(clientCA))
}
