// Command csi-hostpath is the local cluster's CSI driver for volumes that are attached:
// directories on this host, served through the real CSI machinery. Kubernetes' own
// csi-driver-host-path and its sidecars (external-provisioner, external-attacher,
// node-driver-registrar) cannot be had from the Go module proxy here, so this one process
// plays each of their parts for one node, with the same objects and events:
//
//   - the CSI driver: Identity, Controller (CreateVolume, DeleteVolume,
//     ControllerPublishVolume, ControllerUnpublishVolume) and Node (NodePublishVolume: a
//     bind mount of the volume's directory) services on a unix socket;
//   - node-driver-registrar: the kubelet's plugin registration (pluginregistration/v1), so
//     the kubelet mounts the driver's volumes and publishes the node's CSINode;
//   - external-provisioner: claims of a StorageClass naming the driver get a
//     PersistentVolume (after the scheduler picked a node, with WaitForFirstConsumer),
//     with the Provisioning and ProvisioningSucceeded events on the claim; a released
//     volume whose reclaim policy is Delete is deleted;
//   - external-attacher: the VolumeAttachments that the attach/detach controller creates
//     for the driver (its CSIDriver says attachRequired) are attached by
//     ControllerPublishVolume and marked attached; the controller then reports
//     SuccessfulAttachVolume on the pod and the kubelet goes on to mount. A class with the
//     parameter failAttach: REASON makes every attach of its volumes fail with REASON
//     (the attachment's attachError; FailedAttachVolume on the pod).
//
// An attach takes -attach-delay, as attaching a disk does on a real cloud, so the attach
// is a phase of its own rather than an instant.
//
//	csi-hostpath -kubeconfig FILE -node NAME -kubelet-root DIR -data DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

const (
	driverName    = "hostpath.csi.podtrace.dev"
	driverVersion = "0.1.0"
	// The annotations the PV controller and the scheduler put on a claim for an external
	// provisioner (k8s.io/component-helpers/storage/volume).
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	annSelectedNode       = "volume.kubernetes.io/selected-node"
	// What external-provisioner writes on the volumes it made.
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
)

type driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer
	node        string
	data        string
	attachDelay time.Duration

	mu       sync.Mutex
	attached map[string]string // volume id -> node
}

// --- CSI Identity --------------------------------------------------------------------

func (d *driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: driverName, VendorVersion: driverVersion}, nil
}

func (d *driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{{
		Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}},
	}}}, nil
}

func (d *driver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

// --- CSI Controller ------------------------------------------------------------------

func (d *driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, c := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (d *driver) volumeDir(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return "", status.Errorf(codes.InvalidArgument, "bad volume id %q", id)
	}
	return filepath.Join(d.data, id), nil
}

func (d *driver) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	dir, err := d.volumeDir(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, status.Errorf(codes.Internal, "creating %s: %v", dir, err)
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: req.GetName(), CapacityBytes: req.GetCapacityRange().GetRequiredBytes()}}, nil
}

func (d *driver) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	dir, err := d.volumeDir(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, status.Errorf(codes.Internal, "removing %s: %v", dir, err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (d *driver) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	dir, err := d.volumeDir(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", req.GetVolumeId(), err)
	}
	if req.GetNodeId() != d.node {
		return nil, status.Errorf(codes.NotFound, "node %q: this driver serves only %q", req.GetNodeId(), d.node)
	}
	// A StorageClass parameter makes attaching fail, as a cloud refuses a disk (quota, zone):
	// what an attach failure looks like, for tests.
	if reason := req.GetVolumeContext()["failAttach"]; reason != "" {
		return nil, status.Errorf(codes.ResourceExhausted, "attaching volume %s to node %s: %s", req.GetVolumeId(), req.GetNodeId(), reason)
	}
	// What attaching a disk to a machine takes.
	select {
	case <-time.After(d.attachDelay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	d.mu.Lock()
	d.attached[req.GetVolumeId()] = req.GetNodeId()
	d.mu.Unlock()
	return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{"attachedTo": req.GetNodeId()}}, nil
}

func (d *driver) ControllerUnpublishVolume(_ context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	d.mu.Lock()
	delete(d.attached, req.GetVolumeId())
	d.mu.Unlock()
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}

// --- CSI Node ------------------------------------------------------------------------

func (d *driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: d.node}, nil
}

func (d *driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	// No STAGE_UNSTAGE_VOLUME: the kubelet publishes straight to the pod's path.
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

func (d *driver) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	dir, err := d.volumeDir(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if req.GetPublishContext()["attachedTo"] != d.node {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not attached to %s", req.GetVolumeId(), d.node)
	}
	target := req.GetTargetPath()
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "creating %s: %v", target, err)
	}
	if mounted(target) {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	flags := uintptr(syscall.MS_BIND)
	if err := syscall.Mount(dir, target, "", flags, ""); err != nil {
		return nil, status.Errorf(codes.Internal, "bind-mounting %s on %s: %v", dir, target, err)
	}
	if req.GetReadonly() {
		if err := syscall.Mount("", target, "", flags|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			_ = syscall.Unmount(target, 0)
			return nil, status.Errorf(codes.Internal, "remounting %s read-only: %v", target, err)
		}
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

func (d *driver) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if mounted(target) {
		if err := syscall.Unmount(target, 0); err != nil {
			return nil, status.Errorf(codes.Internal, "unmounting %s: %v", target, err)
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "removing %s: %v", target, err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// mounted says whether path is a mount point (listed in this process's mountinfo).
func mounted(path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && strings.ReplaceAll(fields[4], `\040`, " ") == path {
			return true
		}
	}
	return false
}

// --- kubelet plugin registration (node-driver-registrar) -------------------------------

type registration struct {
	registerapi.UnimplementedRegistrationServer
	endpoint string
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: driverName, Endpoint: r.endpoint, SupportedVersions: []string{"1.0.0"}}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		log.Printf("the kubelet did not register the driver: %s", s.Error)
	} else {
		log.Printf("registered with the kubelet")
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	_ = os.Remove(path)
	return net.Listen("unix", path)
}

// --- the controllers (external-provisioner, external-attacher) -------------------------

type controllers struct {
	d        *driver
	client   kubernetes.Interface
	recorder record.EventRecorder
	factory  informers.SharedInformerFactory
}

// provision makes a volume for a claim of one of the driver's StorageClasses: once the
// PV controller handed it to this provisioner and, for WaitForFirstConsumer, the scheduler
// picked a node.
func (c *controllers) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" || claim.Annotations[annStorageProvisioner] != driverName || claim.DeletionTimestamp != nil {
		return nil
	}
	className := ""
	if claim.Spec.StorageClassName != nil {
		className = *claim.Spec.StorageClassName
	}
	class, err := c.factory.Storage().V1().StorageClasses().Lister().Get(className)
	if err != nil {
		return fmt.Errorf("storage class %q of claim %s/%s: %w", className, claim.Namespace, claim.Name, err)
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer && claim.Annotations[annSelectedNode] == "" {
		return nil
	}
	name := "pvc-" + string(claim.UID)
	if _, err := c.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	}
	c.recorder.Eventf(claim, corev1.EventTypeNormal, "Provisioning", "External provisioner is provisioning volume for claim %q", claim.Namespace+"/"+claim.Name)
	size := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if _, err := c.d.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size.Value()}}); err != nil {
		c.recorder.Eventf(claim, corev1.EventTypeWarning, "ProvisioningFailed", "failed to provision volume with StorageClass %q: %v", className, err)
		return err
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: driverName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              className,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID, ResourceVersion: claim.ResourceVersion,
			},
			// The class's parameters become the volume's context, as external-provisioner
			// passes what CreateVolume returns.
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: driverName, VolumeHandle: name, VolumeAttributes: class.Parameters}},
		},
	}
	if _, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.recorder.Eventf(claim, corev1.EventTypeWarning, "ProvisioningFailed", "failed to create PersistentVolume %s: %v", name, err)
		return err
	}
	c.recorder.Eventf(claim, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume %s", name)
	return nil
}

// reclaim deletes a released volume of the driver whose reclaim policy is Delete.
func (c *controllers) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driverName || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return nil
	}
	if _, err := c.d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: pv.Spec.CSI.VolumeHandle}); err != nil {
		return err
	}
	err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// forget removes the attachments of a deleted volume that never got attached: the
// attach/detach controller detaches (and deletes) only what it saw attached, so an
// attachment whose every attach failed would stay behind its volume.
func (c *controllers) forget(ctx context.Context, pv *corev1.PersistentVolume) {
	vas, err := c.factory.Storage().V1().VolumeAttachments().Lister().List(labels.Everything())
	if err != nil {
		return
	}
	for _, va := range vas {
		if va.Spec.Attacher == driverName && !va.Status.Attached && va.Spec.Source.PersistentVolumeName != nil && *va.Spec.Source.PersistentVolumeName == pv.Name {
			if err := c.client.StorageV1().VolumeAttachments().Delete(ctx, va.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				log.Printf("deleting attachment %s of deleted volume %s: %v", va.Name, pv.Name, err)
			}
		}
	}
}

// attach handles one VolumeAttachment of the driver, as external-attacher does.
func (c *controllers) attach(ctx context.Context, va *storagev1.VolumeAttachment) error {
	if va.Spec.Attacher != driverName || va.Status.Attached || va.DeletionTimestamp != nil || va.Spec.Source.PersistentVolumeName == nil {
		return nil
	}
	pv, err := c.factory.Core().V1().PersistentVolumes().Lister().Get(*va.Spec.Source.PersistentVolumeName)
	if err != nil || pv.Spec.CSI == nil {
		return fmt.Errorf("volume of attachment %s: %v", va.Name, err)
	}
	resp, err := c.d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
		VolumeId: pv.Spec.CSI.VolumeHandle, NodeId: va.Spec.NodeName, VolumeContext: pv.Spec.CSI.VolumeAttributes,
	})
	next := va.DeepCopy()
	if err != nil {
		// Written once: a new write would be an update to handle, and so another attach at
		// once; the queue's back-off retries instead.
		if va.Status.AttachError != nil && va.Status.AttachError.Message == err.Error() {
			return err
		}
		next.Status.AttachError = &storagev1.VolumeError{Time: metav1.Now(), Message: err.Error()}
	} else {
		next.Status.Attached = true
		next.Status.AttachmentMetadata = resp.PublishContext
		next.Status.AttachError = nil
	}
	_, uerr := c.client.StorageV1().VolumeAttachments().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	return uerr
}

// run drives fn for every object of an informer as controllers do, through a work queue
// of keys: an object changed while it is being handled is handled again afterwards, with
// its state then (never twice at once, never missed), and a failure is retried with
// back-off a few times.
func run[T any](ctx context.Context, informer cache.SharedIndexInformer, what string, fn func(context.Context, T) error) {
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }})
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	// A few at once (an attach takes its while); the queue never hands out one key twice.
	for range 4 {
		go work(ctx, queue, informer, what, fn)
	}
}

func work[T any](ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], informer cache.SharedIndexInformer, what string, fn func(context.Context, T) error) {
	for {
		key, quit := queue.Get()
		if quit {
			return
		}
		obj, exists, err := informer.GetStore().GetByKey(key)
		if o, ok := obj.(T); err == nil && exists && ok {
			if err := fn(ctx, o); err != nil && queue.NumRequeues(key) < 6 {
				log.Printf("%s %s: %v (retrying)", what, key, err)
				queue.AddRateLimited(key)
			} else {
				queue.Forget(key)
			}
		}
		queue.Done(key)
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the driver's controllers")
	node := flag.String("node", "", "the node this driver serves")
	kubeletRoot := flag.String("kubelet-root", "/var/lib/kubelet", "the kubelet's --root-dir")
	data := flag.String("data", "", "where the volumes' directories live")
	attachDelay := flag.Duration("attach-delay", 1500*time.Millisecond, "how long attaching a volume takes")
	flag.Parse()
	if *kubeconfig == "" || *node == "" || *data == "" {
		log.Fatal("-kubeconfig, -node and -data are required")
	}
	if err := os.MkdirAll(*data, 0o750); err != nil {
		log.Fatal(err)
	}
	d := &driver{node: *node, data: *data, attachDelay: *attachDelay, attached: map[string]string{}}

	endpoint := filepath.Join(*kubeletRoot, "plugins", driverName, "csi.sock")
	csiListener, err := listen(endpoint)
	if err != nil {
		log.Fatalf("listening on %s: %v", endpoint, err)
	}
	csiServer := grpc.NewServer()
	csi.RegisterIdentityServer(csiServer, d)
	csi.RegisterControllerServer(csiServer, d)
	csi.RegisterNodeServer(csiServer, d)
	go func() { log.Fatal(csiServer.Serve(csiListener)) }()

	regPath := filepath.Join(*kubeletRoot, "plugins_registry", driverName+"-reg.sock")
	regListener, err := listen(regPath)
	if err != nil {
		log.Fatalf("listening on %s: %v", regPath, err)
	}
	regServer := grpc.NewServer()
	registerapi.RegisterRegistrationServer(regServer, &registration{endpoint: endpoint})
	go func() { log.Fatal(regServer.Serve(regListener)) }()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	config.UserAgent = "csi-hostpath"
	client := kubernetes.NewForConfigOrDie(config)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	// The component external-provisioner's events name.
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: driverName + "_" + *node})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := &controllers{d: d, client: client, recorder: recorder, factory: factory}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	run(ctx, factory.Core().V1().PersistentVolumeClaims().Informer(), "provisioning", c.provision)
	run(ctx, factory.Core().V1().PersistentVolumes().Informer(), "reclaiming", c.reclaim)
	run(ctx, factory.Storage().V1().VolumeAttachments().Informer(), "attaching", c.attach)
	_, _ = factory.Core().V1().PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			c.forget(ctx, pv)
		}
	}})
	_ = factory.Storage().V1().StorageClasses().Informer()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	log.Printf("serving %s on %s for node %s", driverName, endpoint, *node)

	<-ctx.Done()
	regServer.Stop()
	csiServer.Stop()
	broadcaster.Shutdown()
	_ = os.Remove(regPath)
	_ = os.Remove(endpoint)
}
