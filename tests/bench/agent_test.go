package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/tests/integration/framework"
	"github.com/skiff-k8s/skiff/tests/nodetest"
)

const (
	agnhostRef = "skiff.test/agnhost-lite:1"
	busyboxRef = "skiff.test/busybox:1"
)

// BenchmarkAgent measures issue 4's figures for the node agent (root, containerd, runc
// and the CNI plugins needed; skipped otherwise): node Ready time from the start of
// `skiff server`, the idle RSS of the server with and without its agent and of
// containerd, the start latency of 30 pods created at once (image present), and the
// round trip of an exec through the apiserver. Targets: Ready within 3 s, p99 pod
// start under 1.5 s, agent idle RSS under 60 MB.
func BenchmarkAgent(b *testing.B) {
	images := agentRequire(b)
	for i := 0; i < b.N; i++ {
		// The control plane alone, for the agent's share of the RSS.
		plain := framework.Start(b)
		time.Sleep(10 * time.Second)
		plainRSS := medianRSS(plain.PID())
		plain.Stop(b)

		n, ready := startAgentNode(b, images)
		report(b, "node Ready after process start: %v (target 3s)", ready.Round(time.Millisecond))
		b.ReportMetric(ready.Seconds()*1000, "ms-node-ready")

		time.Sleep(10 * time.Second) // let start-up work settle
		serverRSS := medianRSS(n.s.PID())
		ctdRSS := -1.0
		if pid := n.containerdPID(); pid > 0 {
			ctdRSS = medianRSS(pid)
		}
		report(b, "idle RSS: server with agent %.1f MB, without %.1f MB: the agent's share %.1f MB (target 60 MB); containerd %.1f MB",
			serverRSS, plainRSS, serverRSS-plainRSS, ctdRSS)
		b.ReportMetric(serverRSS, "MB-server-agent-rss")
		b.ReportMetric(plainRSS, "MB-server-noagent-rss")
		b.ReportMetric(serverRSS-plainRSS, "MB-agent-rss")
		b.ReportMetric(ctdRSS, "MB-containerd-rss")

		n.podStart(b, "one", 1, nil)
		// The same with its PID namespace shared: the holder's start added.
		n.podStart(b, "one-shared-pid", 1, func(s *corev1.PodSpec) { s.ShareProcessNamespace = ptr.To(true) })
		n.podStart(b, "burst", 30, nil)
		n.execRoundTrip(b, 20)
		n.resizeRoundTrip(b, 20)
	}
}

// agentNode is a server with its agent, its state under the benchmark's own
// directories, bridge and cgroup.
type agentNode struct {
	s        *framework.Server
	name     string
	runDir   string
	bridge   string
	cidr     *net.IPNet
	podCIDR  *net.IPNet
	cgroup   string
	agentDir string
	// debugAddr serves the server's Go profiles.
	debugAddr string
	// podUIDs are the pods this node ran, whose networks cleanup may tear down.
	podUIDs map[string]bool
}

// agentRequire skips unless the agent can run, and returns the images dir.
func agentRequire(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root to run the node agent")
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ip", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("%s not installed (scripts/install-deps.sh installs it)", bin)
		}
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		found := false
		for _, d := range network.DefaultPluginDirs {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				found = true
			}
		}
		if !found {
			b.Skipf("CNI plugin %s not installed", p)
		}
	}
	dir := os.Getenv("SKIFF_IMAGES")
	if dir == "" {
		dir, _ = filepath.Abs("../../bin/images")
	}
	for _, f := range []string{"agnhost-lite.tar", "busybox.tar"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			b.Skipf("no test image %s in %s (make images)", f, dir)
		}
	}
	return dir
}

// freeClusterCIDR picks a /16 in 10.245-10.250 no route or address of the host uses.
func freeClusterCIDR(b *testing.B) *net.IPNet {
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	addrs, _ := exec.Command("ip", "-4", "addr").Output()
	for i := 245; i <= 250; i++ {
		prefix := fmt.Sprintf("10.%d.", i)
		if !strings.Contains(string(routes), prefix) && !strings.Contains(string(addrs), prefix) {
			_, n, _ := net.ParseCIDR(prefix + "0.0/16")
			return n
		}
	}
	b.Skip("no free /16 in 10.245.0.0-10.250.0.0 for the cluster CIDR")
	return nil
}

// installLayout makes the node's run and data dirs as an installed skiff has
// them: the run dir (/run/skiff) on a tmpfs, as /run is on a standard Linux
// system, and the data dir (/var/lib/skiff) on an ext4 with a journal, as
// Debian makes it, in a file mounted through a loop device. Both matter on
// this project's VMs, whose root is an ext4 without a journal: such an ext4
// scans the inodes freed in a block group in the last minutes each time it
// allocates one there (up to 200-300 µs of CPU after a test run's cleanup,
// against 20 µs), and a pod start creates about 50 files and directories.
// Without mkfs.ext4 or loop devices the data dir is a temp dir, as said.
func installLayout(b *testing.B) (runDir, dataDir string) {
	b.Helper()
	runDir, err := os.MkdirTemp("", "skiff-bn-")
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.Mount("tmpfs", runDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		b.Fatal(err)
	}
	// The node's cleanup unmounts it first; this covers a failure before.
	b.Cleanup(func() {
		_ = unix.Unmount(runDir, unix.MNT_DETACH)
		os.RemoveAll(runDir)
	})
	return runDir, journaledDataDir(b)
}

// journaledDataDir mounts a new 4 GiB sparse ext4 (with mkfs.ext4's default
// journal) on a temp dir, undone at the bench's end; a plain temp dir when
// that cannot be done.
func journaledDataDir(b *testing.B) string {
	dir := b.TempDir()
	img := filepath.Join(b.TempDir(), "data.ext4")
	f, err := os.Create(img)
	if err == nil {
		err = f.Truncate(4 << 30)
		f.Close()
	}
	if err == nil {
		var out []byte
		// Inode tables and journal written now, not by the kernel's
		// ext4lazyinit in the background of the bench.
		if out, err = exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
	}
	if err == nil {
		var out []byte
		if out, err = exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
	}
	if err != nil {
		os.Remove(img)
		b.Logf("data dir on the temp dir's filesystem: no journaled ext4 of its own (%v)", err)
		return dir
	}
	// Registered after TempDir's removal, so it runs before it: the loop
	// device goes with the last unmount (mount's autoclear).
	b.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			b.Errorf("unmount the data dir: %v: %s", err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
		if out, _ := exec.Command("losetup", "-j", img).Output(); len(out) > 0 {
			b.Errorf("the data dir's loop device is left: %s", out)
		}
	})
	return dir
}

// startAgentNode starts `skiff server` with its agent and returns how long after the
// process started the node was first seen Ready (polled every 20 ms).
func startAgentNode(b *testing.B, imagesSrc string) (*agentNode, time.Duration) {
	b.Helper()
	images := b.TempDir()
	for _, f := range []string{"agnhost-lite.tar", "busybox.tar"} {
		if err := os.Symlink(filepath.Join(imagesSrc, f), filepath.Join(images, f)); err != nil {
			b.Fatal(err)
		}
	}
	runDir, dataDir := installLayout(b)
	suffix := rand.String(6)
	n := &agentNode{name: "bench-" + suffix, runDir: runDir, bridge: "skb" + suffix, cidr: freeClusterCIDR(b), cgroup: "/skiff-bench-" + suffix}
	b.Cleanup(func() { n.cleanup(b) })
	n.agentDir = filepath.Join(dataDir, "agent")
	n.debugAddr = "127.0.0.1:" + strconv.Itoa(framework.FreePort(b))
	s := &framework.Server{Bin: binary(b), DataDir: dataDir, Port: framework.FreePort(b), WithAgent: true,
		Kubeconfig: filepath.Join(dataDir, "kubeconfig.yaml"),
		Args: []string{
			"--node-name", n.name, "--cluster-cidr", n.cidr.String(), "--cni-bridge", n.bridge,
			"--run-dir", runDir, "--pod-log-dir", filepath.Join(dataDir, "pod-logs"), "--cgroup-root", n.cgroup,
			"--images-dir", images, "--kubelet-port", strconv.Itoa(framework.FreePort(b)),
			"--debug-address", n.debugAddr,
			// The node's own netns dir, proxy pins and table, and DNS port:
			// nothing of the host's or another run's is touched.
			"--netns-dir", filepath.Join(runDir, "netns"),
			"--proxy-pin-dir", filepath.Join(runDir, "bpf"), "--proxy-nftables-table", "skiff-proxy-" + n.name,
			"--cluster-dns-port", strconv.Itoa(framework.FreePort(b)),
			"--eviction-hard", nodetest.EvictionHard,
		}}
	ctx, cancel := context.WithCancel(context.Background())
	readyAt := make(chan time.Time, 1)
	start := time.Now()
	go watchNodeReady(ctx, s.Kubeconfig, n.name, readyAt)
	if err := s.Resume(); err != nil {
		cancel()
		b.Fatal(err)
	}
	n.s = s
	b.Cleanup(func() { s.Stop(b) })
	b.Cleanup(func() { n.deleteAllPods(b) }) // before the server stops
	var ready time.Duration
	select {
	case at := <-readyAt:
		ready = at.Sub(start)
	case <-time.After(2 * time.Minute):
		cancel()
		b.Fatalf("node %s not Ready\n%s", n.name, s.LogText())
	}
	cancel()
	// Wait for the podCIDR and the test images, as pods need them.
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		node, err := s.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil || node.Spec.PodCIDR == "" {
			return false, nil
		}
		_, n.podCIDR, _ = net.ParseCIDR(node.Spec.PodCIDR)
		have := map[string]bool{}
		for _, img := range node.Status.Images {
			for _, name := range img.Names {
				have[name] = true
			}
		}
		return have[agnhostRef] && have[busyboxRef], nil
	})
	if err != nil {
		b.Fatalf("node %s has no podCIDR or test images: %v", n.name, err)
	}
	return n, ready
}

// watchNodeReady polls the node from when the kubeconfig appears and sends the time it
// is first Ready.
func watchNodeReady(ctx context.Context, kubeconfig, name string, readyAt chan<- time.Time) {
	var client kubernetes.Interface
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				continue
			}
			cfg.Timeout = time.Second
			if client, err = kubernetes.NewForConfig(cfg); err != nil {
				client = nil
				continue
			}
		}
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				readyAt <- time.Now()
				return
			}
		}
	}
}

func podReady(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) }

func podCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// podStart creates count pods at once and reports, from each one's create call to the
// watch event that shows it Running and Ready, p50 and p99, with the CPU the server,
// containerd and the whole machine spent meanwhile. With SKIFF_BENCH_PROFILE=dir it
// writes the server's CPU profile of the first 5 s to dir/podstart-<name>.pprof;
// with SKIFF_BENCH_PERF=file, a burst's is recorded by `perf record -a -g` to file.
func (n *agentNode) podStart(b *testing.B, name string, count int, mutate func(*corev1.PodSpec)) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods := n.s.Client.CoreV1().Pods(metav1.NamespaceDefault)
	label := "podstart-" + name
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "bench=" + label})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var profile chan []byte
	if dir := os.Getenv("SKIFF_BENCH_PROFILE"); dir != "" {
		saveProfile(b, n.debugAddr, "allocs", filepath.Join(dir, "podstart-"+name+"-allocs-before.pprof"))
		defer saveProfile(b, n.debugAddr, "allocs", filepath.Join(dir, "podstart-"+name+"-allocs-after.pprof"))
		profile = make(chan []byte, 1)
		go func() {
			var body []byte
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + n.debugAddr + "/debug/pprof/profile?seconds=5")
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			profile <- body
		}()
		time.Sleep(100 * time.Millisecond)
	}
	requests0 := n.requestCounts(ctx)
	serverCPU, cniCPU, ctdCPU, shimCPU := cpuSeconds(n.s.PID()), childCPUSeconds(n.s.PID()), cpuSeconds(n.containerdPID()), n.shimCPUSeconds()
	busy0, total0 := machineCPU()
	procs0, stat0 := processCPU(), cpuStat()
	if f := os.Getenv("SKIFF_BENCH_PERF"); f != "" && count > 1 {
		// The whole machine's profile of the burst's first 1.6 s, with call graphs.
		perf := exec.Command("perf", "record", "-q", "-B", "-a", "-g", "-o", f, "--", "sleep", "1.6")
		if err := perf.Start(); err != nil {
			b.Fatalf("SKIFF_BENCH_PERF: %v", err)
		}
		defer perf.Wait()
		time.Sleep(50 * time.Millisecond) // perf's own start
	}
	start := time.Now()
	var mu sync.Mutex
	created := map[string]time.Time{}
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		podName := fmt.Sprintf("%s-%02d", name, i)
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: podName, Labels: map[string]string{"bench": label}},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To(int64(1)),
				Containers: []corev1.Container{{Name: "c", Image: agnhostRef, ImagePullPolicy: corev1.PullNever,
					Args: []string{"serve-http", "--port", "8080"}}},
			},
		}
		if mutate != nil {
			mutate(&p.Spec)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
				b.Errorf("create %s: %v", podName, err)
				return
			}
			mu.Lock()
			created[podName] = t0
			mu.Unlock()
		}()
	}
	bound := map[string]time.Time{}
	sandbox := map[string]time.Time{}
	running := map[string]time.Time{}
	ready := map[string]time.Time{}
wait:
	for len(ready) < count {
		select {
		case <-ctx.Done():
			// Say which pods failed and why.
			var stuck []string
			if l, err := pods.List(context.Background(), metav1.ListOptions{LabelSelector: "bench=" + label}); err == nil {
				for _, p := range l.Items {
					if !podReady(&p) {
						stuck = append(stuck, fmt.Sprintf("%s: %s %+v", p.Name, p.Status.Phase, p.Status.ContainerStatuses))
					}
				}
			}
			events, _ := n.s.KubectlErr("", "", "get", "events", "--sort-by=.lastTimestamp")
			b.Errorf("%d of %d pods Ready in a minute; not Ready:\n%s\nevents:\n%s", len(ready), count,
				strings.Join(stuck, "\n"), tailLines(events, 30))
			break wait
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("pod watch closed")
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			p := ev.Object.(*corev1.Pod)
			now := time.Now()
			if _, ok := bound[p.Name]; !ok && p.Spec.NodeName != "" {
				bound[p.Name] = now
			}
			if _, ok := sandbox[p.Name]; !ok && podCondition(p, corev1.PodReadyToStartContainers) {
				sandbox[p.Name] = now
			}
			if _, ok := running[p.Name]; !ok && p.Status.Phase == corev1.PodRunning {
				running[p.Name] = now
			}
			if _, ok := ready[p.Name]; !ok && podReady(p) {
				ready[p.Name] = now
			}
		}
	}
	wg.Wait()
	wall := time.Since(start)
	serverCPU, cniCPU = cpuSeconds(n.s.PID())-serverCPU, childCPUSeconds(n.s.PID())-cniCPU
	ctdCPU, shimCPU = cpuSeconds(n.containerdPID())-ctdCPU, n.shimCPUSeconds()-shimCPU
	busy1, total1 := machineCPU()
	procs1, stat1 := processCPU(), cpuStat()
	var toBound, toSandbox, toRunning, toReady latencies
	for name, t0 := range created {
		if _, ok := ready[name]; !ok {
			continue // failed, reported above
		}
		toBound = append(toBound, bound[name].Sub(t0))
		toSandbox = append(toSandbox, sandbox[name].Sub(t0))
		toRunning = append(toRunning, running[name].Sub(t0))
		toReady = append(toReady, ready[name].Sub(t0))
	}
	report(b, "pod start (%s), %d pods created at once, %d Ready: to Running p50 %v p99 %v; to Ready p50 %v p99 %v (target p99 1.5s)", name, count, len(toReady),
		toRunning.pct(0.5).Round(time.Millisecond), toRunning.pct(0.99).Round(time.Millisecond),
		toReady.pct(0.5).Round(time.Millisecond), toReady.pct(0.99).Round(time.Millisecond))
	report(b, "  stages, p50/p99: bound to the node %v/%v, sandbox ready (PodReadyToStartContainers) %v/%v",
		toBound.pct(0.5).Round(time.Millisecond), toBound.pct(0.99).Round(time.Millisecond),
		toSandbox.pct(0.5).Round(time.Millisecond), toSandbox.pct(0.99).Round(time.Millisecond))
	cores := float64(runtime.NumCPU())
	report(b, "  CPU in those %v: server %.2fs, CNI plugins %.2fs, containerd %.2fs, shims and runc %.2fs; the machine %.0f%% busy of %.0f cores",
		wall.Round(time.Millisecond), serverCPU, cniCPU, ctdCPU, shimCPU, 100*(busy1-busy0)/(total1-total0), cores)
	report(b, "  the machine's CPU: %s; most busy processes: %s", stat1.since(stat0), topProcesses(procs0, procs1, 5))
	report(b, "  API requests meanwhile: %s", requestDiff(requests0, n.requestCounts(ctx)))
	b.ReportMetric(float64(toReady.pct(0.5).Milliseconds()), "ms-pod-start-"+name+"-p50")
	b.ReportMetric(float64(toReady.pct(0.99).Milliseconds()), "ms-pod-start-"+name+"-p99")
	if profile != nil {
		path := filepath.Join(os.Getenv("SKIFF_BENCH_PROFILE"), "podstart-"+name+".pprof")
		if err := os.WriteFile(path, <-profile, 0o644); err != nil {
			b.Error(err)
		}
	}
	_ = pods.DeleteCollection(context.Background(), metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(1))}, metav1.ListOptions{LabelSelector: "bench=" + label})
}

// saveProfile writes the pprof profile kind of the server whose --debug-address
// is addr to path (for allocations, diff two with pprof -base).
func saveProfile(b *testing.B, addr, kind, path string) {
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + addr + "/debug/pprof/" + kind)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, body, 0o644)
	}
	if err != nil {
		b.Error(err)
	}
}

// requestCounts reads the apiserver's request counters by verb and resource
// (apiserver_request_total, summed over scopes and successful codes; failed
// ones are counted apart, with their code).
func (n *agentNode) requestCounts(ctx context.Context) map[string]float64 {
	body, err := n.s.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil
	}
	counts := map[string]float64{}
	for _, l := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(l, "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		var verb, resource, sub, code string
		for _, kv := range strings.Split(labels, ",") {
			k, val, _ := strings.Cut(kv, "=")
			val = strings.Trim(val, `"`)
			switch k {
			case "verb":
				verb = val
			case "resource":
				resource = val
			case "subresource":
				sub = val
			case "code":
				code = val
			}
		}
		if sub != "" {
			resource += "/" + sub
		}
		if !strings.HasPrefix(code, "2") {
			resource += " (" + code + ")"
		}
		counts[verb+" "+resource] += v
	}
	return counts
}

// requestDiff prints the counters that grew, most first.
func requestDiff(before, after map[string]float64) string {
	type kv struct {
		k string
		n float64
	}
	var d []kv
	for k, v := range after {
		if n := v - before[k]; n > 0 {
			d = append(d, kv{k, n})
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i].n > d[j].n || d[i].n == d[j].n && d[i].k < d[j].k })
	var parts []string
	for _, e := range d {
		parts = append(parts, fmt.Sprintf("%s %.0f", e.k, e.n))
	}
	return strings.Join(parts, ", ")
}

// execRoundTrip runs `true` in a busybox pod through the apiserver over WebSocket, as
// kubectl exec does, count times, and reports p50 and p99.
func (n *agentNode) execRoundTrip(b *testing.B, count int) {
	b.Helper()
	ctx := context.Background()
	pods := n.s.Client.CoreV1().Pods(metav1.NamespaceDefault)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "exec"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers: []corev1.Container{{Name: "c", Image: busyboxRef, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"}}},
		},
	}
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, "exec", metav1.GetOptions{})
		return err == nil && podReady(p), nil
	})
	if err != nil {
		got, _ := pods.Get(ctx, "exec", metav1.GetOptions{})
		b.Errorf("exec pod not Ready: %v\nstatus: %+v", err, got.Status)
		return
	}
	var rtt latencies
	for i := 0; i < count; i++ {
		req := n.s.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(metav1.NamespaceDefault).Name("exec").
			SubResource("exec").VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"true"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		t0 := time.Now()
		ex, err := remotecommand.NewWebSocketExecutor(n.s.Config, "GET", req.URL().String())
		if err != nil {
			b.Fatal(err)
		}
		var stderr bytes.Buffer
		if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: &stderr}); err != nil {
			b.Fatalf("exec true: %v %s", err, stderr.String())
		}
		rtt = append(rtt, time.Since(t0))
	}
	report(b, "exec round trip (`true` over WebSocket through the apiserver), n=%d: p50 %v p99 %v", count,
		rtt.pct(0.5).Round(100*time.Microsecond), rtt.pct(0.99).Round(100*time.Microsecond))
	b.ReportMetric(float64(rtt.pct(0.5).Microseconds())/1000, "ms-exec-p50")
}

// resizeRoundTrip resizes a running pod's CPU limit in place count times
// (pods/resize) and times each from the request to the status reporting
// the new limit, the container's cgroup changed.
func (n *agentNode) resizeRoundTrip(b *testing.B, count int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := n.s.Client.CoreV1().Pods(metav1.NamespaceDefault)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "resized"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers: []corev1.Container{{Name: "c", Image: busyboxRef, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"}, Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}}},
		},
	}
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	limitIs := func(p *corev1.Pod, want string) bool {
		if !podReady(p) || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].Resources == nil {
			return false
		}
		got := p.Status.ContainerStatuses[0].Resources.Limits[corev1.ResourceCPU]
		return got.Cmp(resource.MustParse(want)) == 0
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=resized"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	until := func(want string) error {
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					return fmt.Errorf("watch ended")
				}
				if p, ok := ev.Object.(*corev1.Pod); ok && limitIs(p, want) {
					return nil
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := until("200m"); err != nil {
		b.Fatalf("resized pod not Ready: %v", err)
	}
	var rtt latencies
	for i := 0; i < count; i++ {
		limit := []string{"300m", "200m"}[i%2]
		patch := fmt.Sprintf(`{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":%q}}}]}}`, limit)
		t0 := time.Now()
		if _, err := pods.Patch(ctx, "resized", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "resize"); err != nil {
			b.Fatal(err)
		}
		if err := until(limit); err != nil {
			b.Fatalf("resize to %s: %v", limit, err)
		}
		rtt = append(rtt, time.Since(t0))
	}
	report(b, "in-place resize (CPU limit, pods/resize to the status showing it applied), n=%d: p50 %v p99 %v", count,
		rtt.pct(0.5).Round(100*time.Microsecond), rtt.pct(0.99).Round(100*time.Microsecond))
	b.ReportMetric(float64(rtt.pct(0.5).Microseconds())/1000, "ms-resize-p50")
}

func (n *agentNode) containerdPID() int { return nodetest.ContainerdPID(n.runDir) }

// deleteAllPods deletes the pods and waits until the kubelet removed them.
func (n *agentNode) deleteAllPods(b *testing.B) {
	ctx := context.Background()
	pods := n.s.Client.CoreV1().Pods(metav1.NamespaceDefault)
	if l, err := pods.List(ctx, metav1.ListOptions{}); err == nil {
		n.podUIDs = map[string]bool{}
		for _, p := range l.Items {
			n.podUIDs[string(p.UID)] = true
		}
	}
	if err := nodetest.DeleteAllPods(ctx, n.s.Client, metav1.NamespaceDefault, 1); err != nil {
		b.Error(err)
	}
}

// cleanup removes what the agent leaves running on purpose (containerd and any
// container) and what the pods' networks made.
func (n *agentNode) cleanup(b *testing.B) {
	// Only this node's pods: the bench's namespace dir is its own, but
	// the state dir may hold an earlier run's.
	node := nodetest.Node{Name: n.name, RunDir: n.runDir, AgentDir: n.agentDir, NetnsDir: filepath.Join(n.runDir, "netns"),
		Bridge: n.bridge, PodCIDR: n.podCIDR, ClusterCIDR: n.cidr, Cgroup: n.cgroup, Pods: n.podUIDs}
	if n.podUIDs == nil {
		node.Pods = map[string]bool{}
	}
	if err := node.Cleanup(); err != nil {
		b.Error(err)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// machineCPU returns the busy and total jiffies of all CPUs from /proc/stat.
func machineCPU() (busy, total float64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		total += x
		if i != 3 && i != 4 { // idle, iowait
			busy += x
		}
	}
	return busy, total
}

// cpuTimes are /proc/stat's first line, in USER_HZ ticks.
type cpuTimes []float64

func cpuStat() cpuTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var t cpuTimes
	for _, v := range strings.Fields(strings.SplitN(string(data), "\n", 2)[0])[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		t = append(t, x)
	}
	return t
}

// since prints the CPU seconds by kind between two readings: user, system,
// interrupts and, on a VM, steal (time the host ran something else).
func (t cpuTimes) since(t0 cpuTimes) string {
	if len(t) < 8 || len(t0) < 8 {
		return "unknown"
	}
	d := func(i int) float64 { return (t[i] - t0[i]) / 100 }
	return fmt.Sprintf("user %.2fs, system %.2fs, irq %.2fs, steal %.2fs, idle %.2fs", d(0)+d(1), d(2), d(5)+d(6), d(7), d(3)+d(4))
}

// procCPU is a process's name and CPU seconds.
type procCPU struct {
	name string
	cpu  float64
}

// processCPU reads every process's CPU seconds, by pid (a kernel worker's
// name changes with the work it does).
func processCPU() map[int]procCPU {
	out := map[int]procCPU{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		open, close := strings.IndexByte(string(data), '('), strings.LastIndexByte(string(data), ')')
		if open < 0 || close < open {
			continue
		}
		if c := cpuSeconds(pid); c >= 0 {
			out[pid] = procCPU{fmt.Sprintf("%s[%d]", data[open+1:close], pid), c}
		}
	}
	return out
}

// topProcesses names the n processes that used the most CPU between two
// readings (processes that ended meanwhile are not seen).
func topProcesses(before, after map[int]procCPU, n int) string {
	var l []procCPU
	for pid, p := range after {
		if d := p.cpu - before[pid].cpu; d > 0 {
			l = append(l, procCPU{p.name, d})
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].cpu > l[j].cpu })
	var parts []string
	for i := 0; i < len(l) && i < n; i++ {
		parts = append(parts, fmt.Sprintf("%s %.2fs", l[i].name, l[i].cpu))
	}
	return strings.Join(parts, ", ")
}

// medianRSS is the median of five RSS readings a second apart: the Go heap of an idle
// server still moves by several MB as background work comes and goes.
func medianRSS(pid int) float64 {
	var v []float64
	for i := 0; i < 5; i++ {
		if i > 0 {
			time.Sleep(time.Second)
		}
		v = append(v, rssMB(pid))
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// childCPUSeconds is the user+system CPU time of a process's reaped children (the CNI
// plugins the server runs) from /proc/PID/stat.
func childCPUSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(f) < 15 {
		return -1
	}
	cut, _ := strconv.Atoi(f[13])
	cst, _ := strconv.Atoi(f[14])
	return float64(cut+cst) / 100 // USER_HZ
}

// shimCPUSeconds sums the CPU time of this node's containerd shims and of the runc
// runs they reaped.
func (n *agentNode) shimCPUSeconds() float64 {
	entries, _ := os.ReadDir("/proc")
	total := 0.0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmd, []byte("containerd-shim")) || !bytes.Contains(cmd, []byte(n.runDir)) {
			continue
		}
		if c, cc := cpuSeconds(pid), childCPUSeconds(pid); c >= 0 && cc >= 0 {
			total += c + cc
		}
	}
	return total
}
