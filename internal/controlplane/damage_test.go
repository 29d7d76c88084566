package controlplane

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Damaged etcd data ends `up` with an error naming the file and what to
// do, promptly: a bbolt file cut short is found before etcd maps it (no
// SIGBUS), and a write-ahead log cut short (etcd never becomes ready)
// ends at the ready timeout, with the shutdown not waiting on an etcd
// that never stops.
func TestDamagedEtcdData(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	cp := start(t, Options{DataDir: dir, Logger: testLogger()})
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	for i := range 20 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-", Namespace: "default"}, Data: map[string]string{"i": strings.Repeat("x", i*100)}}
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	damaged := func(name string, cut func(dir string)) string {
		d := filepath.Join(t.TempDir(), name)
		if out, err := exec.Command("cp", "-a", dir, d).CombinedOutput(); err != nil {
			t.Fatalf("copying the data dir: %v: %s", err, out)
		}
		cut(d)
		return d
	}

	t.Run("bbolt file cut short", func(t *testing.T) {
		d := damaged("db", func(d string) {
			if err := os.Truncate(filepath.Join(d, "etcd", "member", "snap", "db"), 8192); err != nil {
				t.Fatal(err)
			}
		})
		_, err := Start(ctx, Options{DataDir: d, Logger: testLogger()})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(d, "etcd", "member", "snap", "db")+" is cut short") ||
			!strings.Contains(err.Error(), "Restore the data dir from a backup") {
			t.Fatalf("start on a cut bbolt file: %v", err)
		}
	})

	t.Run("write-ahead log cut short", func(t *testing.T) {
		d := damaged("wal", func(d string) {
			wals, _ := filepath.Glob(filepath.Join(d, "etcd", "member", "wal", "*.wal"))
			if len(wals) == 0 {
				t.Fatal("no WAL file")
			}
			if err := os.Truncate(wals[0], 20000); err != nil {
				t.Fatal(err)
			}
		})
		began := time.Now()
		_, err := Start(ctx, Options{DataDir: d, Logger: testLogger(), EtcdReadyTimeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "etcd data in "+filepath.Join(d, "etcd")+" is damaged") {
			t.Fatalf("start on a cut WAL: %v", err)
		}
		t.Logf("refused after %s: %v", time.Since(began).Round(100*time.Millisecond), err)
	})
}
