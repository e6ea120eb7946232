// Package kube starts real, throw-away Kubernetes control planes for tests
// and for `make demo`.
//
// k3sync reconciles against kube-apiservers, so its tests run against real
// ones: no fake clientsets, no mocked discovery. Each [ControlPlane] is an
// etcd plus a kube-apiserver (and optionally a kube-controller-manager), all
// separate processes started from binaries built by `make kube-bins`.
//
// # Binaries
//
// The binaries are compiled from source by hack/k8s/k8s.mk into
// bin/k8s-<version>/ at the repository root ([Version] is the one the tests
// expect). Start looks for them in [Options.BinDir], then in the directory
// named by the KUBE_BIN_DIR environment variable (exported by make), then in
// <repo root>/bin/k8s-[Version], where the repository root is found by
// walking up from the working directory to k3sync's go.mod. When they are
// missing Start fails with
//
//	kube-apiserver not found in <dir>: run 'make kube-bins'
//
// Tests must let that fail the test (as [StartT] does): a skipped test would
// silently stop covering the code.
//
// # One control plane
//
// Every plane is fully independent: its own temporary directory, its own
// etcd (client and peer ports picked at random on 127.0.0.1, fsync disabled)
// and its own kube-apiserver serving HTTPS on a random 127.0.0.1 port. The
// certificates are generated per plane: a self-signed CA, a serving
// certificate for 127.0.0.1 and localhost, an ECDSA service-account signing
// key pair, and an admin client certificate in the system:masters group.
// Planes share nothing, so any number can run side by side, e.g. to play
// several clusters of a fleet.
//
// The apiserver runs with --authorization-mode=Node,RBAC and the default
// admission plugins, like a real cluster: a client that is not granted access
// by RBAC gets 403 Forbidden. [ControlPlane.KubeconfigFor] issues a
// client-certificate kubeconfig for any user and groups, for least-privilege
// tests.
//
// Without a controller manager nothing runs controllers: a deleted namespace
// stays Terminating forever, namespaces get no "default" ServiceAccount (so
// the ServiceAccount admission plugin rejects bare Pods), Deployments create
// no ReplicaSets. Set [Options.ControllerManager] when a test needs them;
// Start then also waits until the default ServiceAccount of the "default"
// namespace exists. No kubelet or scheduler runs: Pods are never scheduled.
//
// # Lifecycle
//
// [Start] returns once /readyz of the apiserver answers "ok" (about 3 s on
// 2 cores). Readiness is a bounded poll ([Options.StartTimeout]); if a
// process exits first, Start fails with the tail of its output. A port that
// another process grabbed between being picked and being bound is retried
// with fresh ports. The context passed to Start bounds only the start-up:
// the processes live until [ControlPlane.Stop], which kills them and removes
// the directory. On Linux the processes are also killed when the process
// that started them dies, so a test binary killed by a timeout leaves no
// stray apiservers behind.
//
// # Fault injection
//
// [ControlPlane.StartFaultProxy] puts an HTTPS reverse proxy in front of a
// plane's apiserver, for tests of what a client does when the apiserver (or
// the load balancer in front of it) fails. It serves a certificate of the
// plane's CA, so the plane's CA data verifies it, and reaches the apiserver
// as the admin; [FaultProxy.KubeconfigPath] and [FaultProxy.RESTConfig]
// point at it. [FaultProxy.Inject] arms a [Fault] for requests matching a
// method and a path pattern, optionally after letting Skip through and for
// Count of them: an answer with a status (500, 503, 429 with Retry-After)
// and a Kubernetes Status body, a stall, or a TCP reset. A faulted request
// never reaches the apiserver. The proxy speaks HTTP/1.1 only, so that a
// reset takes one request's connection. [FaultProxy.Requests] records every
// request with its arrival time and the status the client got: enough to
// check that a Retry-After was honoured, or that nothing was written twice.
//
//	p := kube.StartFaultProxyT(t, planes[0])
//	p.Inject(kube.Fault{Method: "PATCH", Skip: 1, Reset: true})
//
// # Tests
//
// [StartT] starts n planes in parallel and stops them in t.Cleanup:
//
//	planes := kube.StartT(t, 2)
//	cs := kubernetes.NewForConfigOrDie(planes[0].RESTConfig())
//
// [ControlPlane.RESTConfig] returns a fresh admin *rest.Config with client-side
// throttling raised for tests; [ControlPlane.Kubeconfig] and
// [ControlPlane.KubeconfigPath] give the same identity as a kubeconfig.
package kube
