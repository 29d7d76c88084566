package controlplane

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Files in DataDir/pki that give the API server a client certificate for
// admission webhooks: an AdmissionConfiguration naming a kubeconfig whose
// only user is that certificate.
const (
	admissionConfigFile       = "admission.yaml"
	webhookClientKubeconfig   = "webhook-client.kubeconfig"
	anyWebhook                = "*" // the kubeconfig user the API server picks for any webhook host
	admissionConfigPluginYAML = `  - name: %s
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: %q
`
)

// WebhookClient names the files of the client certificate the embedded API
// server presents to every admission webhook it calls.
type WebhookClient struct {
	// CAFile is the CA (PEM) that signed it, and nothing else: a webhook
	// server requiring client certificates from it accepts only the API
	// server.
	CAFile string
	// CertFile and KeyFile are the API server's certificate and key.
	CertFile, KeyFile string
}

// WebhookClientFiles are the webhook client certificate files of the
// control plane with data directory dataDir. They exist once Start has run
// there.
func WebhookClientFiles(dataDir string) WebhookClient {
	dir := filepath.Join(dataDir, "pki")
	return WebhookClient{
		CAFile:   filepath.Join(dir, webhookClientCACertFile),
		CertFile: filepath.Join(dir, webhookClientCertFile),
		KeyFile:  filepath.Join(dir, webhookClientKeyFile),
	}
}

// writeAdmissionConfig writes the admission configuration (and the
// kubeconfig it names) that make the validating and mutating webhook
// plugins present p's webhook client certificate to any webhook, and
// returns its path. Both are rewritten on every start: they hold absolute
// paths, and the data dir may have moved.
func writeAdmissionConfig(p *pki) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.AuthInfos[anyWebhook] = &clientcmdapi.AuthInfo{
		ClientCertificate: p.path(webhookClientCertFile),
		ClientKey:         p.path(webhookClientKeyFile),
	}
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return "", err
	}
	kcPath := p.path(webhookClientKubeconfig)
	if err := writeFileAtomic(kcPath, data, 0o600); err != nil {
		return "", err
	}
	cfg := "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
	for _, plugin := range []string{"ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"} {
		cfg += fmt.Sprintf(admissionConfigPluginYAML, plugin, kcPath)
	}
	path := p.path(admissionConfigFile)
	if err := writeFileAtomic(path, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
