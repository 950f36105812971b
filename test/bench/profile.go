package main

import (
	"fmt"
	"time"
)

// The network profiles the copy scenario runs in.
const (
	profileLoopback = "loopback"
	profileWAN      = "wan"
)

var allProfiles = []string{profileLoopback, profileWAN}

// profile is the network between the tools and the registries, and the
// data copied across it.
//
// loopback: every registry on 127.0.0.1 as it is, storage in the temp
// directory; the destinations' own CPU is the bottleneck, and round trips
// cost nothing.
//
// wan: the workflow's shape, where the copy runs in the source's region
// and the destinations are in others. A shaping proxy (shaper) sits in
// front of each registry: the source 1 ms away each way and unshaped, each
// destination 40 ms away each way (an 80 ms round trip) at 50 MB/s per
// connection in each direction, by default. Storage is on tmpfs
// (/dev/shm), so that disk syncs do not dominate what the network costs.
type profile struct {
	name     string
	src, dst link   // each way, for the source and for every destination
	storage  string // parent of the registries' storage; "" the temp dir
	data     dataSpec
	// tls makes every registry speak HTTPS, and offer HTTP/2, as ECR
	// does (--tls); certs is set once the certificates are written.
	tls   bool
	certs *tlsFiles
}

// wanData is the WAN profile's image: a 2-platform index of 8 × 16 MiB
// layers, as issue 12 measured, so one trial takes seconds, not minutes,
// at 50 MB/s.
var wanData = dataSpec{layersPerPlatform: 4, layerSize: 16 * mib, largeLayerSize: 1024 * mib}

func newProfile(name string, srcDelay, dstDelay time.Duration, srcRate, dstRate float64) profile {
	if name == profileLoopback {
		return profile{name: name, data: defaultData}
	}
	return profile{
		name:    name,
		src:     link{delay: srcDelay, rate: srcRate},
		dst:     link{delay: dstDelay, rate: dstRate},
		storage: "/dev/shm",
		data:    wanData,
	}
}

func (p profile) shaped() bool { return p.name == profileWAN }

func (p profile) String() string {
	if !p.shaped() {
		return "loopback"
	}
	s := fmt.Sprintf("WAN: source %s; each destination %s; storage on tmpfs", p.src, p.dst)
	if p.tls {
		s += "; HTTPS, HTTP/2 offered (connections counted, not requests)"
	}
	return s
}

// plainHTTP is the flag that makes ferry or crane speak plain HTTP to the
// registries, unless they speak HTTPS (--tls: the tools trust the bench's
// authority through SSL_CERT_FILE).
func (p profile) plainHTTP() []string {
	if p.tls {
		return nil
	}
	return []string{"--insecure"}
}

// limits is what the WAN profile allows at best, from its numbers alone:
// the time a copy would take if the machine's CPU cost nothing, every blob
// were in flight at once on a connection of its own, and each request
// took one round trip and its bytes' time on the link.
type limits struct {
	Cold  time.Duration `json:"cold_ns"`  // the index to every destination at once
	Warm  time.Duration `json:"warm_ns"`  // everything present
	Large time.Duration `json:"large_ns"` // the single large layer, to one destination
	Model string        `json:"model"`
}

// modelLimits computes the limits for an index whose largest blob is
// largest bytes and a single-layer image of large bytes.
//
//   - cold: the source's index and image manifests (2 source round trips),
//     the destination's checks (1 round trip: the tag, manifests and blobs
//     asked at once, alongside the source's reads), then per blob, all at
//     once: open the upload (1) and PUT the bytes with the digest (1, plus
//     the largest blob's time on one connection), then the image manifests
//     (1) and the index with its tag (1): 2 + 5 round trips and the
//     largest blob's transfer;
//   - warm: 1 round trip (the tag already points at the digest);
//   - large: the same as cold with one blob and one manifest: 1 + 4 round
//     trips and the layer's transfer on one connection.
//
// One-way delays count twice in a round trip. Connection set-up is free
// (the proxy accepts at once).
func (p profile) modelLimits(largest, large int64) limits {
	src, dst := 2*p.src.delay, 2*p.dst.delay
	transfer := func(n int64) time.Duration {
		if p.dst.rate <= 0 {
			return 0
		}
		return time.Duration(float64(n) / p.dst.rate * float64(time.Second))
	}
	return limits{
		Cold:  2*src + 5*dst + transfer(largest),
		Warm:  dst,
		Large: src + 4*dst + transfer(large),
		Model: "every blob at once on its own connection; per destination: 1 round trip of checks, then per blob an upload start and a PUT " +
			"with the bytes (1 round trip each, plus the largest blob's time on one connection), then the image manifests and the index (1 each); " +
			"warm: 1 round trip; machine CPU and connection set-up cost nothing",
	}
}
