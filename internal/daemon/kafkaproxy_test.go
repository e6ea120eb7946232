package daemon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaProxy is a TCP proxy in front of every broker of a real Kafka
// cluster, for counting what k3sync writes: k3sync's Kafka target takes
// no client hooks from the daemon's config, and the broker's own request
// metrics are only over JMX.
//
// Kafka requests are framed (a 4-byte size, then the request header: API
// key, version, correlation ID), and so is SASL: franz-go authenticates
// with SaslHandshake v1 and SaslAuthenticate requests, so the proxy sees
// every request, before and after the login, and counts those whose key
// count says to. A client keeps talking through the proxy because the
// proxy rewrites the brokers of every Metadata response to the proxy's
// own address of each broker: the broker's advertised listeners stay
// what the test harness made them.
type kafkaProxy struct {
	t     testing.TB
	count func(key int16)
	addrs []string // listening addresses, in the order of the brokers
	// proxyOf maps a broker's advertised address to its proxy's.
	proxyOf map[string]*net.TCPAddr

	lns    []net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// startKafkaProxy listens on a loopback port for each broker of brokers
// and calls count with the API key of every request a client sends
// through it. It stops when the test ends.
func startKafkaProxy(t testing.TB, brokers []string, count func(key int16)) *kafkaProxy {
	t.Helper()
	p := &kafkaProxy{t: t, count: count, proxyOf: map[string]*net.TCPAddr{}, conns: map[net.Conn]bool{}}
	t.Cleanup(p.close)
	for _, upstream := range brokers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.lns = append(p.lns, ln)
		p.addrs = append(p.addrs, ln.Addr().String())
		p.proxyOf[upstream] = ln.Addr().(*net.TCPAddr)
	}
	for i, ln := range p.lns {
		p.wg.Go(func() { p.serve(ln, brokers[i]) })
	}
	return p
}

// Addrs returns the proxy's address of every broker.
func (p *kafkaProxy) Addrs() []string { return p.addrs }

func (p *kafkaProxy) close() {
	p.mu.Lock()
	p.closed = true
	for _, ln := range p.lns {
		_ = ln.Close()
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track remembers c to close it with the proxy; false once it is closed.
func (p *kafkaProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *kafkaProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
}

func (p *kafkaProxy) serve(ln net.Listener, upstream string) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		broker, err := net.Dial("tcp", upstream)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.track(client, broker) {
			_ = client.Close()
			_ = broker.Close()
			return
		}
		p.wg.Go(func() { p.pipe(client, broker) })
	}
}

// pipe relays one connection: requests are counted as they go to the
// broker, Metadata responses rewritten as they come back. Responses on a
// connection answer its requests by correlation ID.
func (p *kafkaProxy) pipe(client, broker net.Conn) {
	defer p.untrack(client, broker)
	var metadata sync.Map          // correlation ID → Metadata request version
	done := make(chan struct{}, 2) // each direction, when it ends
	go func() {
		for {
			frame, err := readKafkaFrame(client)
			if err != nil {
				done <- struct{}{}
				return
			}
			if len(frame) >= 12 {
				key := int16(binary.BigEndian.Uint16(frame[4:]))
				version := int16(binary.BigEndian.Uint16(frame[6:]))
				corr := int32(binary.BigEndian.Uint32(frame[8:]))
				p.count(key)
				if key == kmsg.Metadata.Int16() {
					metadata.Store(corr, version) // before the broker can answer
				}
			}
			if _, err := broker.Write(frame); err != nil {
				done <- struct{}{}
				return
			}
		}
	}()
	go func() {
		for {
			frame, err := readKafkaFrame(broker)
			if err != nil {
				done <- struct{}{}
				return
			}
			if len(frame) >= 8 {
				if v, ok := metadata.LoadAndDelete(int32(binary.BigEndian.Uint32(frame[4:]))); ok {
					if frame, err = p.rewriteMetadata(frame, v.(int16)); err != nil {
						p.t.Errorf("kafka proxy: %v", err)
						done <- struct{}{}
						return
					}
				}
			}
			if _, err := client.Write(frame); err != nil {
				done <- struct{}{}
				return
			}
		}
	}()
	<-done
	// Closing both ends ends the other direction too.
	_ = client.Close()
	_ = broker.Close()
	<-done
}

// rewriteMetadata replaces each broker's host and port in a Metadata
// response frame with its proxy's.
func (p *kafkaProxy) rewriteMetadata(frame []byte, version int16) ([]byte, error) {
	body := frame[8:] // after the size and the correlation ID
	header := 0
	if version >= 9 { // flexible: the response header has tagged fields
		n, off, err := uvarint(body, 0)
		if err != nil {
			return nil, err
		}
		for range n {
			if _, off, err = uvarint(body, off); err != nil { // tag
				return nil, err
			}
			var size uint64
			if size, off, err = uvarint(body, off); err != nil {
				return nil, err
			}
			off += int(size)
		}
		header = off
	}
	if header > len(body) {
		return nil, errors.New("metadata response: short header")
	}
	resp := kmsg.NewMetadataResponse()
	resp.Version = version
	if err := resp.ReadFrom(body[header:]); err != nil {
		return nil, fmt.Errorf("metadata response v%d: %w", version, err)
	}
	for i, b := range resp.Brokers {
		if a, ok := p.proxyOf[net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))]; ok {
			resp.Brokers[i].Host, resp.Brokers[i].Port = a.IP.String(), int32(a.Port)
		}
	}
	out := make([]byte, 8, len(frame)+64)
	copy(out[4:], frame[4:8])
	out = append(out, body[:header]...)
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

func uvarint(b []byte, off int) (uint64, int, error) {
	if off > len(b) {
		return 0, off, errors.New("metadata response: short header")
	}
	v, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return 0, off, errors.New("metadata response: bad varint in the header")
	}
	return v, off + n, nil
}

// readKafkaFrame reads one size-prefixed request or response, the size
// included.
func readKafkaFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err //nolint:wrapcheck // end of the connection
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 256<<20 {
		return nil, fmt.Errorf("kafka frame of %d bytes", n)
	}
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	if _, err := io.ReadFull(r, frame[4:]); err != nil {
		return nil, err //nolint:wrapcheck // end of the connection
	}
	return frame, nil
}
