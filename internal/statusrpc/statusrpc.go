// Package statusrpc serves the original Bluenet's local status endpoint: an
// XML-RPC server (by default on 127.0.0.1:6459, path /RPC2) with one method,
// is_bluenet_connected, answering whether a setup app is connected right now.
// Tools written for the original daemon poll it.
//
// It speaks just enough HTTP/1.1 for XML-RPC (one POST with a
// Content-Length per connection, answered with "Connection: close") on a
// plain net.Listener: net/http would link TLS, HTTP/2 and x509 into the
// daemon, about 2.6 MB of binary and 1.3 MiB of resident memory at start.
package statusrpc

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAddr is where the original daemon listened.
const DefaultAddr = "127.0.0.1:6459"

const (
	// path is the only path served; others get 404 as from net/http's mux.
	path = "/RPC2"
	// maxHeader bounds the request line and headers, maxBody the body read.
	maxHeader = 64 << 10
	maxBody   = 64 << 10
	// requestTimeout bounds reading a request and writing the answer.
	requestTimeout = 10 * time.Second
)

// Server is the XML-RPC status endpoint.
type Server struct {
	ln        net.Listener
	connected func() bool
	wg        sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // connections being served
	closed bool
}

// Listen starts serving on addr (host:port). connected is called for every
// is_bluenet_connected request and must be safe for concurrent use.
func Listen(addr string, connected func() bool) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("statusrpc: %w", err)
	}
	s := &Server{ln: ln, connected: connected, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server, waiting up to ctx for requests in flight; those
// still open then are cut.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	var delay time.Duration // after a temporary Accept error, as net/http
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(c)
			lingerClose(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// handle answers one request on c.
func (s *Server) handle(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(requestTimeout))
	s.answerHTTP(c, c)
}

// answerHTTP reads one request from r and writes the answer to w.
func (s *Server) answerHTTP(r io.Reader, w io.Writer) {
	br := bufio.NewReader(io.LimitReader(r, maxHeader))
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return
	}
	method, target, proto, ok := parseRequestLine(line)
	if !ok {
		writeHTTP(w, 400, nil, "text/plain; charset=utf-8", "400 Bad Request\n")
		return
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		writeHTTP(w, 400, nil, "text/plain; charset=utf-8", "400 Bad Request\n")
		return
	}
	if p, _, _ := strings.Cut(target, "?"); p != path {
		writeHTTP(w, 404, nil, "text/plain; charset=utf-8", "404 page not found\n")
		return
	}
	if method != "POST" {
		writeHTTP(w, 405, []string{"Allow: POST"}, "text/plain; charset=utf-8", "XML-RPC wants POST\n")
		return
	}
	if hdr.Get("Transfer-Encoding") != "" {
		// XML-RPC requires a correct Content-Length on requests.
		writeHTTP(w, 411, nil, "text/plain; charset=utf-8", "XML-RPC wants a Content-Length\n")
		return
	}
	n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64)
	if err != nil || n < 0 {
		writeHTTP(w, 411, nil, "text/plain; charset=utf-8", "XML-RPC wants a Content-Length\n")
		return
	}
	if proto == "HTTP/1.1" && strings.EqualFold(hdr.Get("Expect"), "100-continue") {
		_, _ = io.WriteString(w, "HTTP/1.1 100 Continue\r\n\r\n")
	}
	// What the header reader buffered belongs to the body; the rest is read
	// from the connection, at most maxBody bytes in all.
	body := io.LimitReader(io.MultiReader(br, r), min(n, maxBody))
	writeHTTP(w, 200, nil, "text/xml", answer(body, s.connected))
}

// lingerClose half-closes c after the answer and drops what the client
// still sends for a moment, as net/http does: closing a socket with unread
// data resets the connection, and the client might lose the answer.
func lingerClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 256<<10))
}

// parseRequestLine splits "POST /RPC2 HTTP/1.1".
func parseRequestLine(line string) (method, target, proto string, ok bool) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" || !strings.HasPrefix(proto, "HTTP/1.") {
		return "", "", "", false
	}
	return method, target, proto, true
}

var statusText = map[int]string{200: "OK", 400: "Bad Request", 404: "Not Found",
	405: "Method Not Allowed", 411: "Length Required"}

// writeHTTP writes a whole response and asks the client to close.
func writeHTTP(w io.Writer, code int, extra []string, contentType, body string) {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n",
		code, statusText[code], contentType, len(body))
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	_, _ = io.WriteString(w, b.String())
}

type methodCall struct {
	XMLName xml.Name `xml:"methodCall"`
	Method  string   `xml:"methodName"`
}

// answer returns the XML-RPC response to the methodCall in body:
// is_bluenet_connected returns a boolean, system.listMethods the list of
// methods, anything else a fault.
func answer(body io.Reader, connected func() bool) string {
	var call methodCall
	if err := xml.NewDecoder(body).Decode(&call); err != nil {
		return fault(-32700, "parse error")
	}
	switch call.Method {
	case "is_bluenet_connected":
		v := 0
		if connected() {
			v = 1
		}
		return response(fmt.Sprintf("<boolean>%d</boolean>", v))
	case "system.listMethods":
		return response("<array><data><value><string>is_bluenet_connected</string></value>" +
			"<value><string>system.listMethods</string></value></data></array>")
	default:
		var name strings.Builder
		_ = xml.EscapeText(&name, []byte(call.Method))
		return fault(-32601, "method not found: "+name.String())
	}
}

func response(value string) string {
	return xml.Header + "<methodResponse><params><param><value>" + value +
		"</value></param></params></methodResponse>\n"
}

func fault(code int, msg string) string {
	return fmt.Sprintf("%s<methodResponse><fault><value><struct>"+
		"<member><name>faultCode</name><value><int>%d</int></value></member>"+
		"<member><name>faultString</name><value><string>%s</string></value></member>"+
		"</struct></value></fault></methodResponse>\n", xml.Header, code, msg)
}
