package emulator

import (
	"strings"
	"sync"
)

// tailBuffer is an io.Writer that keeps the last max bytes written to it.
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	buf  []byte
	drop bool // bytes were dropped from the front
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max { // trim rarely, keep amortised cost low
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.drop = true
	}
	return len(p), nil
}

// Lines returns the last n lines (all kept lines if n <= 0), without a
// trailing newline. A partial first line left over from trimming is omitted.
func (t *tailBuffer) Lines(n int) string {
	t.mu.Lock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	s := string(b)
	dropped := t.drop || len(t.buf) > t.max
	t.mu.Unlock()

	if dropped {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	s = strings.TrimRight(s, "\n")
	if n <= 0 || s == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
