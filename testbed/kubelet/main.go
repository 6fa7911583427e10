// lifeboat-kubelet: the stock kubelet v1.20.2 (cmd/kubelet's main) with one switch turned on:
// it may report 127.0.0.1 as its node IP (--node-ip=127.0.0.1), so that a real node of the test
// bed, its pods' hostIP and everything that reaches it stay on the loopback interface.
// testbed/build.sh copies this file into the Kubernetes tree as cmd/lifeboat-kubelet and builds it
// there (see testbed/patches/kubelet-loopback-node-ip.patch for the switch).
package main

import (
	"math/rand"
	"os"
	"time"

	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	_ "k8s.io/component-base/metrics/prometheus/version" // for version metric registration
	"k8s.io/kubernetes/cmd/kubelet/app"
	"k8s.io/kubernetes/pkg/kubelet"
)

func main() {
	rand.Seed(time.Now().UnixNano())
	kubelet.AllowLoopbackNodeIP = true

	command := app.NewKubeletCommand()
	logs.InitLogs()
	defer logs.FlushLogs()

	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
