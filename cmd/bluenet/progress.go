package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows what a long command is doing: on a terminal one line with
// a spinner, redrawn in place; otherwise one plain line per step.
type progress struct {
	w   io.Writer
	tty bool

	mu      sync.Mutex
	msg     string
	since   time.Time
	frame   int
	quit    chan struct{}
	stopped bool
	wg      sync.WaitGroup
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, quit: make(chan struct{})}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.tty = true
		p.wg.Add(1)
		go p.spin()
	}
	return p
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (p *progress) spin() {
	defer p.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw redraws the spinner line; p.mu is held.
func (p *progress) draw() {
	if p.msg == "" {
		return
	}
	p.frame = (p.frame + 1) % len(spinnerFrames)
	fmt.Fprintf(p.w, "\r%s %s (%ds)\x1b[K", spinnerFrames[p.frame], p.msg, int(time.Since(p.since).Seconds()))
}

// update shows msg as the current step.
func (p *progress) update(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || msg == p.msg {
		return
	}
	p.msg = msg
	if p.since.IsZero() {
		p.since = time.Now()
	}
	if p.tty {
		p.draw()
		return
	}
	fmt.Fprintln(p.w, msg)
}

// stop clears the spinner line; later updates are ignored.
func (p *progress) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	close(p.quit)
	p.mu.Unlock()
	p.wg.Wait()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
