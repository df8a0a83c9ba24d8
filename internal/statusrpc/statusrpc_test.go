package statusrpc

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
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
