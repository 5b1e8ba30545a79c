package integration

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestCrashLosesNoAcknowledgedWrite kills the server with SIGKILL while clients write,
// restarts it on the same data dir and checks every acknowledged create is there.
func TestCrashLosesNoAcknowledgedWrite(t *testing.T) {
	s := framework.Start(t)
	ctx := ctxT(t)
	eventually(t, 30*time.Second, func() error { // the default namespace is made at start
		_, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "first"}}, metav1.CreateOptions{})
		return err
	})
	var acked sync.Map
	var n atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				_, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": name}}, metav1.CreateOptions{})
				if err != nil {
					return // the server went away
				}
				acked.Store(name, true)
				if n.Add(1) == 200 {
					s.Kill()
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	if n.Load() < 200 {
		t.Fatalf("only %d creates acknowledged before the writers failed", n.Load())
	}
	s.Restart(t)
	missing := 0
	acked.Range(func(k, _ any) bool {
		cm, err := s.Client.CoreV1().ConfigMaps("default").Get(ctx, k.(string), metav1.GetOptions{})
		if err != nil || cm.Data["i"] != k.(string) {
			missing++
			t.Errorf("acknowledged %s: %v", k, err)
		}
		return missing < 10
	})
	// And the restarted server still takes writes.
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
