package statusrpc

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestIsBluenetConnected(t *testing.T) {
	var connected atomic.Bool
	s, err := Listen("127.0.0.1:0", connected.Load)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	url := "http://" + s.Addr().String() + "/RPC2"
	call := func(body string) string {
		t.Helper()
		resp, err := http.Post(url, "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	const req = `<?xml version="1.0"?><methodCall><methodName>is_bluenet_connected</methodName><params></params></methodCall>`
	tests := []struct {
		name      string
		connected bool
		body      string
		want      string
	}{
		{"not connected", false, req, "<boolean>0</boolean>"},
		{"connected", true, req, "<boolean>1</boolean>"},
		{"unknown method", false, `<methodCall><methodName>a&lt;b</methodName></methodCall>`, "method not found: a&lt;b"},
		{"garbage", false, `not xml at all`, "<int>-32700</int>"},
		{"list", false, `<methodCall><methodName>system.listMethods</methodName></methodCall>`, "is_bluenet_connected"},
	}
	for _, tt := range tests {
		connected.Store(tt.connected)
		if got := call(tt.body); !strings.Contains(got, tt.want) {
			t.Errorf("%s: response %q does not contain %q", tt.name, got, tt.want)
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status = %d, want 405", resp.StatusCode)
	}
}

// The endpoint's HTTP: what net/http answered before (404 off /RPC2, 405
// with Allow for GET), 411 without a Content-Length, 100 Continue when
// asked, a body cut at 64 KiB, and the connection closed after the answer.
func TestHTTP(t *testing.T) {
	s, err := Listen("127.0.0.1:0", func() bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	const call = `<methodCall><methodName>is_bluenet_connected</methodName></methodCall>`
	raw := func(req string) string {
		t.Helper()
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c) // EOF: the server closed
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name, req string
		want      []string
	}{
		{"post", "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(call)) + "\r\n\r\n" + call,
			[]string{"HTTP/1.1 200 OK\r\n", "Content-Type: text/xml\r\n", "Connection: close\r\n", "<boolean>1</boolean>"}},
		{"HTTP/1.0 with a query", "POST /RPC2?x=1 HTTP/1.0\r\nContent-Length: " + strconv.Itoa(len(call)) + "\r\n\r\n" + call,
			[]string{"HTTP/1.1 200 OK\r\n", "<boolean>1</boolean>"}},
		{"expect", "POST /RPC2 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(call)) + "\r\n\r\n" + call,
			[]string{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "<boolean>1</boolean>"}},
		{"other path", "POST /RPC3 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", []string{"HTTP/1.1 404 Not Found\r\n"}},
		{"get", "GET /RPC2 HTTP/1.1\r\n\r\n", []string{"HTTP/1.1 405 Method Not Allowed\r\n", "Allow: POST\r\n"}},
		{"chunked", "POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []string{"HTTP/1.1 411 Length Required\r\n"}},
		{"no length", "POST /RPC2 HTTP/1.1\r\n\r\n", []string{"HTTP/1.1 411 Length Required\r\n"}},
		{"garbage", "hello\r\n\r\n", []string{"HTTP/1.1 400 Bad Request\r\n"}},
		{"short body", "POST /RPC2 HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + call, []string{"HTTP/1.1 200 OK\r\n", "<int>-32700</int>"}},
		{"huge body", "POST /RPC2 HTTP/1.1\r\nContent-Length: 100000\r\n\r\n<methodCall><methodName>" + strings.Repeat("a", 99950) + "</methodName></methodCall>",
			[]string{"HTTP/1.1 200 OK\r\n", "<int>-32700</int>"}},
	}
	for _, tt := range tests {
		got := raw(tt.req)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: response %q does not contain %q", tt.name, got, w)
			}
		}
	}
}

// Close waits for a request in flight until its context ends, then cuts it.
func TestCloseCutsSlowClients(t *testing.T) {
	s, err := Listen("127.0.0.1:0", func() bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /RPC2 HTTP/1.1\r\n") // and nothing more
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still listening after Close")
	}
}
