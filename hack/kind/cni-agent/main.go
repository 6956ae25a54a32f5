// Command podtrace-cni-agent gives the nodes of the podman kind cluster their pod network.
//
// kind's own CNI, kindnetd, comes as an image from a registry and its Go module is not
// served by the module proxy, so the node image built by hack/build-kind-node.sh runs this
// instead: a systemd service on every node, using the kubelet's own credentials. All nodes
// sit on one L2 network (the podman bridge), so plain routes are enough, as in kindnetd:
//
//   - the CNI config for this node's podCIDR (ptp + host-local): containerd reports the
//     network ready as soon as it appears, and with it the kubelet reports the node Ready;
//   - a route to every other node's podCIDR via that node's InternalIP;
//   - masquerading of what pods send outside the pod network, so that whoever they talk
//     to (the podman host, for one) answers the node rather than an address it has no
//     route for;
//   - a route for the Service network: the nodes' network is internal (no default route),
//     and a host-network client's packet to a ClusterIP needs a route before kube-proxy's
//     DNAT can rewrite it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// routeProtocol marks the routes this agent adds (ip-route's "proto"), so that after a
// restart it still recognises the routes of nodes that have gone since.
const routeProtocol = "213"

type agent struct {
	nodeName    string
	cniConfig   string
	clusterCIDR string
	serviceCIDR string
	device      string
	nodes       listersv1.NodeLister
}

func main() {
	var a agent
	hostname, _ := os.Hostname()
	kubeconfig := flag.String("kubeconfig", "/etc/kubernetes/kubelet.conf", "the kubelet's kubeconfig (written by kubeadm init or join)")
	flag.StringVar(&a.nodeName, "node-name", hostname, "this node's name")
	flag.StringVar(&a.cniConfig, "cni-config", "/etc/cni/net.d/10-podtrace.conflist", "the CNI config file to write")
	flag.StringVar(&a.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pod network of the whole cluster (kind's networking.podSubnet)")
	flag.StringVar(&a.serviceCIDR, "service-cidr", "10.96.0.0/16", "the Service network (kind's networking.serviceSubnet)")
	flag.StringVar(&a.device, "device", "eth0", "the node's interface on the nodes' network")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// The service starts with the node, before kubeadm has written the kubeconfig.
	for {
		if _, err := os.Stat(*kubeconfig); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("reading %s: %v", *kubeconfig, err)
	}
	client := kubernetes.NewForConfigOrDie(config)

	// Until kind applies the RBAC in /kind/manifests/default-cni.yaml, the kubelet may read
	// only its own Node and the list fails; the informer retries with backoff.
	factory := informers.NewSharedInformerFactory(client, 0)
	informer := factory.Core().V1().Nodes()
	a.nodes = informer.Lister()
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	_, err = informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	})
	if err != nil {
		log.Fatal(err)
	}
	factory.Start(ctx.Done())
	log.Printf("watching nodes as %s", a.nodeName)

	// Events drive the work; the ticker repairs anything changed behind our back.
	ticker := time.NewTicker(30 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-ticker.C:
		}
		if err := a.sync(); err != nil {
			log.Print(err)
		}
	}
}

func (a *agent) sync() error {
	nodes, err := a.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	if err := a.ensureRoute(a.serviceCIDR, "dev", a.device); err != nil {
		return err
	}
	if err := a.ensureMasquerade(); err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, node := range nodes {
		cidr, ip := node.Spec.PodCIDR, internalIP(node)
		if cidr == "" {
			continue // the node-ipam controller has not given it one yet
		}
		if node.Name == a.nodeName {
			if err := a.writeCNIConfig(cidr); err != nil {
				return err
			}
			continue
		}
		if ip == "" {
			continue
		}
		wanted[cidr] = true
		if err := a.ensureRoute(cidr, "via", ip); err != nil {
			return err
		}
	}
	return a.removeStaleRoutes(wanted)
}

func internalIP(node *corev1.Node) string {
	for _, address := range node.Status.Addresses {
		if address.Type == corev1.NodeInternalIP && !strings.Contains(address.Address, ":") {
			return address.Address
		}
	}
	return ""
}

// writeCNIConfig writes the config only when it changes: containerd reloads on every write.
func (a *agent) writeCNIConfig(podCIDR string) error {
	config := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "podtrace-kind",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": %q }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
`, podCIDR)
	if old, err := os.ReadFile(a.cniConfig); err == nil && string(old) == config {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(a.cniConfig), 0o755); err != nil {
		return err
	}
	// Written whole and renamed, so containerd never loads half a file.
	tmp := a.cniConfig + ".tmp"
	if err := os.WriteFile(tmp, []byte(config), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, a.cniConfig); err != nil {
		return err
	}
	log.Printf("wrote %s for podCIDR %s", a.cniConfig, podCIDR)
	return nil
}

func (a *agent) ensureRoute(cidr string, how ...string) error {
	args := append([]string{"-4", "route", "replace", cidr}, how...)
	return run("ip", append(args, "proto", routeProtocol)...)
}

func (a *agent) removeStaleRoutes(wanted map[string]bool) error {
	out, err := output("ip", "-4", "-o", "route", "show", "proto", routeProtocol)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[1] != "via" || wanted[fields[0]] {
			continue // the Service route ("dev"), or a node that is still there
		}
		log.Printf("removing the route to %s: its node is gone", fields[0])
		if err := run("ip", "-4", "route", "del", fields[0]); err != nil {
			return err
		}
	}
	return nil
}

// ensureMasquerade: pod traffic to pods keeps its source address; anything else leaves
// with the node's.
func (a *agent) ensureMasquerade() error {
	rule := []string{"POSTROUTING", "-s", a.clusterCIDR, "!", "-d", a.clusterCIDR,
		"-m", "comment", "--comment", "podtrace-cni-agent: pods to outside the pod network", "-j", "MASQUERADE"}
	if run("iptables", append([]string{"-w", "-t", "nat", "-C"}, rule...)...) == nil {
		return nil
	}
	return run("iptables", append([]string{"-w", "-t", "nat", "-A"}, rule...)...)
}

func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func output(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
