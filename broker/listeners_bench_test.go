package broker_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
)

// Publish throughput over tcp, ssl, ws and wss in the same run (compare the ns/op of the
// sub-benchmarks), and TLS handshakes per second:
//
//	go test ./broker -run '^$' -bench 'BenchmarkListener' -benchtime 20000x
func BenchmarkListenerPublish(b *testing.B) {
	pki := newPKI(b, "bench")
	n := brokertest.Start(b, func(c *config.Config) {
		ssl := config.NewListener(config.ListenerSSL, "default", "127.0.0.1:0")
		ssl.CertFile, ssl.KeyFile = pki.ServerCert, pki.ServerKey
		ws := config.NewListener(config.ListenerWS, "default", "127.0.0.1:0")
		wss := config.NewListener(config.ListenerWSS, "default", "127.0.0.1:0")
		wss.CertFile, wss.KeyFile = pki.ServerCert, pki.ServerKey
		c.Listeners = append(c.Listeners, ssl, ws, wss)
	})
	payload := make([]byte, 256)
	for _, k := range []struct{ name, url string }{
		{"tcp", "tcp://" + n.Addr},
		{"ssl", "ssl://" + addrOf(b, n, "listener.ssl.default")},
		{"ws", "ws://" + addrOf(b, n, "listener.ws.default") + "/mqtt"},
		{"wss", "wss://" + addrOf(b, n, "listener.wss.default") + "/mqtt"},
	} {
		b.Run(k.name, func(b *testing.B) {
			o := paho.NewClientOptions().AddBroker(k.url).SetClientID("bench-" + k.name).SetProtocolVersion(4).
				SetTLSConfig(clientTLS(b, pki)).SetAutoReconnect(false).SetWriteTimeout(10 * time.Second)
			c := paho.NewClient(o)
			if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				b.Fatalf("connect: %v", tok.Error())
			}
			defer c.Disconnect(100)
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				qos := byte(0)
				if i%100 == 99 {
					qos = 1 // a QoS 1 now and then keeps the pipeline honest
				}
				tok := c.Publish("bench/"+k.name, qos, false, payload)
				if qos == 1 {
					tok.Wait()
				}
			}
			// Everything sent has been handled once the last QoS 1 is acknowledged.
			c.Publish("bench/"+k.name, 1, false, payload).Wait()
		})
	}
}

func BenchmarkListenerTLSHandshake(b *testing.B) {
	pki := newPKI(b, "bench")
	n := brokertest.Start(b, func(c *config.Config) {
		ssl := config.NewListener(config.ListenerSSL, "default", "127.0.0.1:0")
		ssl.CertFile, ssl.KeyFile = pki.ServerCert, pki.ServerKey
		c.Listeners = append(c.Listeners, ssl)
	})
	addr := addrOf(b, n, "listener.ssl.default")
	cfg := clientTLS(b, pki)
	start := time.Now()
	for b.Loop() {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		tc := tls.Client(nc, cfg)
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		tc.Close()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
}
