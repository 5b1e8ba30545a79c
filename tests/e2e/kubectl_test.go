package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestKubectlRealPods drives a real pod with each kubectl (the embedded one and
// the system's): run, wait, logs with their flags, exec, attach, port-forward over
// the default transport, cp both ways, delete.
func TestKubectlRealPods(t *testing.T) {
	n := kubeletStart(t) // imports busybox too: it has sh and tar, which kubectl cp needs
	n.s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		suffix := "s" // the system's kubectl
		if k.Path() == n.s.Bin {
			suffix = "e"
		}
		web, box, att := "web-"+suffix, "box-"+suffix, "att-"+suffix

		k.Run("run", web, "--image="+ctdAgnhostRef, "--image-pull-policy=Never", "--port=80", "--", "serve-http", "--port", "80")
		k.Run("run", box, "--image="+ctdBusyboxRef, "--image-pull-policy=Never", "--command", "--", "sleep", "3600")
		// att reads its stdin (open once: the first attach's EOF ends it) and exits.
		k.Run("run", att, "--image="+ctdBusyboxRef, "--image-pull-policy=Never", "-i", "--attach=false", "--restart=Never", "--command", "--",
			"sh", "-c", "echo started; while read line; do echo \"got $line\"; done; echo bye")
		k.Run("wait", "--for=condition=Ready", "--timeout=120s", "pod/"+web, "pod/"+box, "pod/"+att)

		ip := strings.TrimSpace(k.Run("get", "pod", web, "-o", "jsonpath={.status.podIP}"))
		if parsed := net.ParseIP(ip); parsed == nil || !n.podCIDR.Contains(parsed) {
			t.Errorf("pod IP %q is not in the node's podCIDR %s", ip, n.podCIDR)
		}
		wide := k.Run("get", "pod", web, "-o", "wide")
		if !strings.Contains(wide, "Running") || !strings.Contains(wide, n.name) {
			t.Errorf("get -o wide:\n%s", wide)
		}

		// exec, with the pod's hostname and a non-zero exit passed through.
		if out := strings.TrimSpace(k.Run("exec", box, "--", "hostname")); out != box {
			t.Errorf("exec hostname = %q, want %q", out, box)
		}
		if out, err := k.Try(nil, "", "exec", box, "--", "sh", "-c", "exit 7"); err == nil || !strings.Contains(out, "exit code 7") {
			t.Errorf("exec exit 7: err %v, output %q", err, out)
		}
		if out := k.Stdin("from stdin\n", "exec", "-i", box, "--", "cat"); out != "from stdin\n" {
			t.Errorf("exec -i cat = %q", out)
		}

		// attach to the container's stdin; the container ends when it closes.
		out := k.Stdin("hello\n", "attach", "-i", att)
		if !strings.Contains(out, "got hello") {
			t.Errorf("attach -i: %q", out)
		}
		k.Run("wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=60s", "pod/"+att)

		// logs and their flags.
		logs := k.Run("logs", att)
		if logs != "started\ngot hello\nbye\n" {
			t.Errorf("logs: %q", logs)
		}
		if tail := k.Run("logs", "--tail=1", att); tail != "bye\n" {
			t.Errorf("logs --tail=1: %q", tail)
		}
		ts := k.Run("logs", "--timestamps", att)
		if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z started$`).MatchString(ts) {
			t.Errorf("logs --timestamps: %q", ts)
		}
		if recent := k.Run("logs", "--since=1h", att); !strings.Contains(recent, "started") {
			t.Errorf("logs --since=1h: %q", recent)
		}

		// port-forward on a local port kubectl picks.
		pf := exec.Command(kubectlPath(k), kubectlArgs(n.s, k, "port-forward", "pod/"+web, ":80")...)
		pf.Env = append(os.Environ(), "KUBECONFIG="+n.s.Kubeconfig, "HOME="+n.s.DataDir)
		stdout, err := pf.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := pf.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pf.Process.Kill(); _ = pf.Wait() }()
		local := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 80`)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					local <- m[1]
				}
			}
		}()
		select {
		case port := <-local:
			if body := httpGet(t, "http://127.0.0.1:"+port+"/hostname"); body != web {
				t.Errorf("through port-forward: %q, want %q", body, web)
			}
		case <-time.After(time.Minute):
			t.Fatal("kubectl port-forward printed no local port")
		}

		// cp into the pod and back.
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		if err := os.WriteFile(src, []byte("copied\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		k.Run("cp", src, box+":/tmp/in.txt")
		if got := k.Run("exec", box, "--", "cat", "/tmp/in.txt"); got != "copied\n" {
			t.Errorf("after cp in: %q", got)
		}
		back := filepath.Join(dir, "back.txt")
		k.Run("cp", box+":/tmp/in.txt", back)
		if b, err := os.ReadFile(back); err != nil || string(b) != "copied\n" {
			t.Errorf("after cp out: %q %v", b, err)
		}

		k.Run("delete", "pod", web, box, att, "--wait", "--timeout=60s")
		if out, err := k.Try(nil, "", "get", "pod", web); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("after delete: %v %q", err, out)
		}
	})
}

// kubectlPath and kubectlArgs spell a kubectl command line for a background
// process (the framework runs kubectl to completion only).
func kubectlPath(k *framework.Kubectl) string { return k.Path() }

func kubectlArgs(s *framework.Server, k *framework.Kubectl, args ...string) []string {
	if k.Path() == s.Bin {
		return append([]string{"kubectl"}, args...)
	}
	return args
}
