package kube

import (
	"fmt"
	"slices"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client-side rate limits of the configs returned by RESTConfig and
// RESTConfigFor: client-go's defaults (5 QPS, burst 10) would make tests
// that apply many objects crawl.
const (
	testQPS   = 500
	testBurst = 1000
)

// kubeconfig renders a single-context kubeconfig with the certificates
// embedded.
func kubeconfig(name, server string, caPEM []byte, user string, creds keyPair) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificateData: creds.certPEM,
		ClientKeyData:         creds.keyPEM,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	cfg.CurrentContext = name
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: %w", user, err)
	}
	return b, nil
}

// restConfig is the client-go equivalent of kubeconfig.
func restConfig(server string, caPEM []byte, creds keyPair) *rest.Config {
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   slices.Clone(caPEM),
			CertData: slices.Clone(creds.certPEM),
			KeyData:  slices.Clone(creds.keyPEM),
		},
		QPS:   testQPS,
		Burst: testBurst,
	}
}
