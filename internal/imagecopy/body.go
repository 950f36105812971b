package imagecopy

import (
	"io"
	"sync"
	"time"
)

// chunkBody is the body of one blob upload, fed chunk by chunk by the tee.
// It implements io.WriterTo, so net/http writes each 256 KiB chunk to the
// connection in one call, straight from the tee's buffer: no intermediate
// copy, and an eighth of the system calls an io.Pipe (32 KiB at a time)
// would cost. send returns once the chunk is written, so the tee may reuse
// its buffer.
type chunkBody struct {
	chunks chan []byte
	taken  chan struct{} // one per chunk, once it is written
	done   chan struct{} // closed when the upload stops reading
	once   sync.Once
	end    error  // why the chunks stopped; nil means the blob is complete
	rest   []byte // Read's unread part of the current chunk
	// watch, if set, runs while a chunk waits to be written: a registry that
	// takes nothing for stall has its upload cancelled.
	watch *time.Timer
	stall time.Duration
	// rate, if set, meters the registry's rate over those waits; slow
	// cancels the upload when it is too slow.
	rate *rateMeter
	slow func(why error)
	// progress, if set, is the destination's, counting the bytes handed
	// to this body (counted, which only the tee touches).
	progress *Progress
	counted  int64
}

// count adds n bytes handed to the body to its destination's progress.
func (b *chunkBody) count(n int64) {
	b.counted += n
	b.progress.add(n, 0)
}

func newChunkBody() *chunkBody {
	return &chunkBody{chunks: make(chan []byte), taken: make(chan struct{}), done: make(chan struct{})}
}

// send hands p to the upload and waits until it is written. It fails if
// the upload has stopped.
func (b *chunkBody) send(p []byte) error {
	if b.watch != nil {
		b.watch.Reset(b.stall)
		defer b.watch.Stop()
	}
	var start time.Time
	if b.rate != nil {
		start = b.rate.start()
	}
	select {
	case b.chunks <- p:
	case <-b.done:
		return errUploadEnded
	}
	select {
	case <-b.taken:
	case <-b.done:
		return errUploadEnded
	}
	if b.rate != nil {
		if why := b.rate.record(start, len(p)); why != nil {
			b.slow(why)
			return errUploadEnded
		}
	}
	return nil
}

// finish ends the body: complete when err is nil, broken otherwise (the
// request then fails and nothing is committed). Only the sender calls it.
func (b *chunkBody) finish(err error) {
	b.end = err
	close(b.chunks)
}

func (b *chunkBody) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for p := range b.chunks {
		m, err := w.Write(p)
		n += int64(m)
		b.ack()
		if err != nil {
			return n, err
		}
	}
	return n, b.end
}

func (b *chunkBody) Read(p []byte) (int, error) {
	if len(b.rest) == 0 {
		c, ok := <-b.chunks
		if !ok {
			if b.end != nil {
				return 0, b.end
			}
			return 0, io.EOF
		}
		b.rest = c
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	if len(b.rest) == 0 {
		b.ack()
	}
	return n, nil
}

func (b *chunkBody) ack() {
	select {
	case b.taken <- struct{}{}:
	case <-b.done:
	}
}

// Close marks the upload as no longer reading; send then fails at once.
func (b *chunkBody) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}
