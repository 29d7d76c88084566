package gitops_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// gitSSHServer serves the repositories under root over SSH on loopback:
// it accepts the one client key and runs git-upload-pack for exec requests.
// It returns the address and the host's known_hosts line.
func gitSSHServer(t *testing.T, root string, clientKey ssh.PublicKey) (string, string) {
	t.Helper()
	uploadPack := cloudtest.RequireTool(t, "git-upload-pack")
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(clientKey.Marshal()) {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(conn, cfg, root, uploadPack)
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	known := fmt.Sprintf("[127.0.0.1]:%d %s", addr.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))))
	return addr.String(), known
}

func serveSSH(conn net.Conn, cfg *ssh.ServerConfig, root, uploadPack string) {
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		conn.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, in, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for req := range in {
				if req.Type != "exec" || len(req.Payload) < 4 {
					_ = req.Reply(false, nil)
					continue
				}
				command := string(req.Payload[4:])
				_ = req.Reply(true, nil)
				// "git-upload-pack '/repo.git'" -> the repository under root.
				path := strings.Trim(strings.TrimPrefix(command, "git-upload-pack "), "'\"")
				cmd := exec.Command(uploadPack, filepath.Join(root, filepath.Base(path)))
				cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
				code := uint32(0)
				if err := cmd.Run(); err != nil {
					code = 1
				}
				status := make([]byte, 4)
				binary.BigEndian.PutUint32(status, code)
				_, _ = ch.SendRequest("exit-status", false, status)
				return
			}
		}()
	}
}

// A repository over SSH with a private key and known_hosts from a Secret.
func TestFetchOverSSH(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cloud := cloudtest.Fakes(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "gitops-fakes", cloud))
	r := newRepo(t)
	h := r.push("over ssh", map[string]*string{"orders.yaml": str(topicYAML("orders", "ssh"))})
	addr, known := gitSSHServer(t, filepath.Dir(r.bare), sshPub)

	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ssh-key", Namespace: ns},
		Data:       map[string][]byte{"identity": pem.EncodeToMemory(block), "known_hosts": []byte(known + "\n")},
	}); err != nil {
		t.Fatal(err)
	}
	gs := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "over-ssh", Namespace: ns},
		Spec: corev1alpha1.GitSourceSpec{
			URL:       "ssh://git@" + addr + "/" + filepath.Base(r.bare),
			SecretRef: &corev1alpha1.LocalObjectReference{Name: "ssh-key"},
		},
	}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	waitSource(t, gs, appliedRevision(h))

	// A host whose key is not the one in known_hosts is refused.
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := ssh.NewPublicKey(otherPub)
	wrong := fmt.Sprintf("[127.0.0.1]:%s %s", addr[strings.LastIndex(addr, ":")+1:], strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherKey))))
	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ssh-key-wrong-host", Namespace: ns},
		Data:       map[string][]byte{"identity": pem.EncodeToMemory(block), "known_hosts": []byte(wrong + "\n")},
	}); err != nil {
		t.Fatal(err)
	}
	spoofed := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "spoofed", Namespace: ns},
		Spec:       corev1alpha1.GitSourceSpec{URL: gs.Spec.URL, SecretRef: &corev1alpha1.LocalObjectReference{Name: "ssh-key-wrong-host"}},
	}
	if err := env.Client.Create(ctx, spoofed); err != nil {
		t.Fatal(err)
	}
	waitSource(t, spoofed, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != "FetchFailed" || !strings.Contains(c.Message, "key") {
			return errorf("want a host key failure, got %+v", c)
		}
		if g.Status.LastAppliedRevision != "" {
			return errorf("applied from an unverified host")
		}
		return nil
	})
}
