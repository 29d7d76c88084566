package emulator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(100)
	for i := range 50 {
		fmt.Fprintf(b, "line %02d\n", i)
	}
	got := b.Lines(3)
	if got != "line 47\nline 48\nline 49" {
		t.Errorf("Lines(3) = %q", got)
	}
	all := b.Lines(0)
	if len(all) > 100 || !strings.HasPrefix(all, "line ") || !strings.HasSuffix(all, "line 49") {
		t.Errorf("Lines(0) = %q: want whole lines, at most 100 bytes", all)
	}
	if got := newTailBuffer(10).Lines(5); got != "" {
		t.Errorf("empty buffer: %q", got)
	}
}

func TestCompareVersions(t *testing.T) {
	in := []string{"x-0.8.20-all.jar", "x-0.8.9-all.jar", "x-0.10.1-all.jar", "x-0.8.20-all.jar"}
	slices.SortFunc(in, compareVersions)
	want := []string{"x-0.8.9-all.jar", "x-0.8.20-all.jar", "x-0.8.20-all.jar", "x-0.10.1-all.jar"}
	if !slices.Equal(in, want) {
		t.Errorf("sorted = %v, want %v", in, want)
	}
}
