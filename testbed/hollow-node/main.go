// lifeboat-hollow-node: a real kubelet (kubemark's hollow kubelet) over the fake CRI runtime,
// with everything Lifeboat's tests need to point at set from flags. testbed/build.sh copies this
// file into the Kubernetes tree as cmd/lifeboat-hollow-node and builds it there.
//
// Restarting the process is a node reboot: the fake runtime starts empty and the kubelet
// re-creates the static pods found in --pod-manifest-path.
package main

import (
	goflag "flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/server/healthz"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/logs"
	"k8s.io/klog/v2"
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
	"k8s.io/kubernetes/pkg/kubelet"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	cadvisortest "k8s.io/kubernetes/pkg/kubelet/cadvisor/testing"
	containertest "k8s.io/kubernetes/pkg/kubelet/container/testing"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	"k8s.io/kubernetes/pkg/kubelet/cri/remote"
	fakeremote "k8s.io/kubernetes/pkg/kubelet/cri/remote/fake"
	"k8s.io/kubernetes/pkg/kubemark"
)

func main() {
	labels := map[string]string{}
	fs := pflag.CommandLine
	name := fs.String("name", "hollow-node", "node name")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the node (client cert CN=system:node:<name>)")
	rootDir := fs.String("root-dir", "", "kubelet root directory (kept across restarts)")
	manifests := fs.String("pod-manifest-path", "", "static pod directory (default <root-dir>/manifests)")
	criSocket := fs.String("cri-socket", "", "unix socket path for the fake CRI runtime (runtime.v1alpha2)")
	port := fs.Int("port", 10250, "secure (TLS, authenticated) kubelet port")
	readOnlyPort := fs.Int("read-only-port", 10255, "read-only kubelet port (0 disables it)")
	healthzPort := fs.Int("healthz-port", 10248, "healthz port (0 disables it)")
	address := fs.String("address", "127.0.0.1", "address the kubelet binds and reports as its node IP")
	fileCheck := fs.Duration("file-check-frequency", time.Second, "how often the static pod directory is read")
	clientCA := fs.String("client-ca-file", "", "CA for client certificates on the secure port")
	fs.Var(cliflag.NewMapStringString(&labels), "node-labels", "node labels, k=v,...")
	fs.AddGoFlagSet(goflag.CommandLine) // klog's flags (-v, ...): the kubelet packages registered them
	pflag.Parse()
	logs.InitLogs()
	defer logs.FlushLogs()

	if *rootDir == "" || *kubeconfig == "" || *criSocket == "" {
		klog.Fatalf("--root-dir, --kubeconfig and --cri-socket are required")
	}
	if *manifests == "" {
		*manifests = filepath.Join(*rootDir, "manifests")
	}
	for _, d := range []string{*rootDir, *manifests, filepath.Dir(*criSocket)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			klog.Fatalf("mkdir %s: %v", d, err)
		}
	}

	restConfig, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("kubeconfig: %v", err)
	}
	client := clientset.NewForConfigOrDie(restConfig)

	f, c := kubemark.GetHollowKubeletConfig(&kubemark.HollowKubletOptions{
		NodeName: *name, KubeletPort: *port, KubeletReadOnlyPort: *readOnlyPort,
		MaxPods: 110, NodeLabels: labels,
	})
	// GetHollowKubeletConfig made throw-away temp dirs; use ours instead.
	os.RemoveAll(f.RootDirectory)
	f.RootDirectory = *rootDir
	f.CertDirectory = filepath.Join(*rootDir, "pki")
	f.NodeIP = *address
	// Report the bind address as the node's IP, loopback included (testbed/patches allows that), so
	// that nothing ever connects to this node off the loopback interface.
	kubelet.AllowLoopbackNodeIP = true
	c.StaticPodPath = *manifests
	c.FileCheckFrequency.Duration = *fileCheck
	c.Address = *address
	c.HealthzBindAddress = *address
	c.HealthzPort = int32(*healthzPort)
	// As a kubelet deployed today, not the legacy flag defaults: no anonymous access; client certs
	// and bearer tokens checked with the API server, which also authorizes each request.
	c.Authentication.X509.ClientCAFile = *clientCA
	c.Authentication.Anonymous.Enabled = false
	c.Authentication.Webhook.Enabled = true
	c.Authorization.Mode = kubeletconfig.KubeletAuthorizationModeWebhook

	heartbeatConfig := *restConfig
	heartbeatConfig.Timeout = c.NodeStatusUpdateFrequency.Duration
	heartbeatConfig.QPS = -1
	heartbeatClient := clientset.NewForConfigOrDie(&heartbeatConfig)

	endpoint := "unix://" + *criSocket
	fakeRuntime := fakeremote.NewFakeRemoteRuntime()
	if err := fakeRuntime.Start(endpoint); err != nil {
		klog.Fatalf("fake runtime: %v", err)
	}
	defer fakeRuntime.Stop()
	runtimeService, err := remote.NewRemoteRuntimeService(endpoint, 15*time.Second)
	if err != nil {
		klog.Fatalf("runtime client: %v", err)
	}

	hk := kubemark.NewHollowKubelet(f, c, client, heartbeatClient,
		&cadvisortest.Fake{NodeName: *name}, fakeRuntime.ImageService, runtimeService,
		cm.NewStubContainerManager())
	// kubemark's FakeOS writes a map without a lock: a hundred pods starting at once crash the
	// hollow kubelet ("fatal error: concurrent map writes"). The same fake, behind a mutex.
	hk.KubeletDeps.OSInterface = &lockedOS{fake: &containertest.FakeOS{}}
	// Serve the secure port as a kubelet does: TLS (self-signed cert in <root-dir>/pki), client
	// certificates from --client-ca-file, bearer tokens and authorization through the API server.
	if hk.KubeletDeps.TLSOptions, err = kubeletapp.InitializeTLS(f, c); err != nil {
		klog.Fatalf("kubelet TLS: %v", err)
	}
	auth, runCAReload, err := kubeletapp.BuildAuth(types.NodeName(*name), client, *c)
	if err != nil {
		klog.Fatalf("kubelet auth: %v", err)
	}
	runCAReload(wait.NeverStop)
	hk.KubeletDeps.Auth = auth
	if *healthzPort > 0 { // the kubelet's own main serves healthz, RunKubelet does not
		mux := http.NewServeMux()
		healthz.InstallHandler(mux)
		addr := net.JoinHostPort(*address, strconv.Itoa(*healthzPort))
		go wait.Until(func() { klog.Errorf("healthz: %v", http.ListenAndServe(addr, mux)) }, 5*time.Second, wait.NeverStop)
	}
	klog.Infof("hollow node %s: root %s, static pods %s, CRI %s", *name, *rootDir, *manifests, endpoint)
	hk.Run()
}

// lockedOS serialises the calls into kubemark's FakeOS (see main).
type lockedOS struct {
	mu   sync.Mutex
	fake *containertest.FakeOS
}

func (l *lockedOS) MkdirAll(path string, perm os.FileMode) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.MkdirAll(path, perm)
}
func (l *lockedOS) Symlink(oldname, newname string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Symlink(oldname, newname)
}
func (l *lockedOS) Stat(path string) (os.FileInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Stat(path)
}
func (l *lockedOS) Remove(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Remove(path)
}
func (l *lockedOS) RemoveAll(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.RemoveAll(path)
}
func (l *lockedOS) Create(path string) (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Create(path)
}
func (l *lockedOS) Chmod(path string, perm os.FileMode) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Chmod(path, perm)
}
func (l *lockedOS) Hostname() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Hostname()
}
func (l *lockedOS) Chtimes(path string, atime, mtime time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Chtimes(path, atime, mtime)
}
func (l *lockedOS) Pipe() (*os.File, *os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Pipe()
}
func (l *lockedOS) ReadDir(dirname string) ([]os.FileInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.ReadDir(dirname)
}
func (l *lockedOS) Glob(pattern string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Glob(pattern)
}
func (l *lockedOS) Open(name string) (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Open(name)
}
func (l *lockedOS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.OpenFile(name, flag, perm)
}
func (l *lockedOS) Rename(oldpath, newpath string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fake.Rename(oldpath, newpath)
}
