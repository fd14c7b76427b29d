package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Limits of the stdio transport.
const (
	// stdioReadBuffer is the line reader's buffer; longer lines are read
	// in pieces, up to the request size limit.
	stdioReadBuffer = 64 << 10
	// maxStdioInFlight bounds the requests from one stdio client served
	// at once: more than any client keeps busy, few enough that a burst
	// cannot open hundreds of backend connections.
	maxStdioInFlight = 64
	// stdioQueueLen bounds the requests waiting for one of the
	// maxStdioInFlight workers; past it a request is refused with a
	// JSON-RPC error at once. Reading never pauses, so cancellations,
	// pings, EOF and signals are honoured however busy the workers are.
	stdioQueueLen = 256
)

// serveStdio serves one client over newline-delimited JSON on in and out,
// refusing a line longer than maxLine bytes (TASKMAN_MAX_REQUEST_BYTES),
// until in ends or ctx is cancelled (a signal). Control messages
// (notifications, responses, pings) and refusals are answered by the
// reading loop itself; other requests go to a bounded queue served by
// maxStdioInFlight workers. At the end, in-flight and queued requests get
// until the drain deadline of clock to finish; their answers, or errors for
// those cancelled at the deadline, are still written.
func (s *server) serveStdio(ctx context.Context, in io.Reader, out io.Writer, maxLine int64, clock *shutdownClock) error {
	sess := newSession("")
	var wmu sync.Mutex // serialises writes to out
	write := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		if _, err := out.Write(append(b, '\n')); err != nil {
			s.logger.Warn("write to stdout failed", "err", err)
		}
	}
	notify := func(n *notification) {
		if b, err := json.Marshal(n); err == nil {
			write(b)
		}
	}
	serve := func(rctx context.Context, in *incoming) {
		if a := s.serve(rctx, sess, in, nil, notify); a != nil {
			write(s.encode(a))
		}
	}

	// Requests run on a context that the signal does not cancel, so they
	// can finish during the drain; it is cancelled at the deadline.
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	stopReading := make(chan struct{}) // the loop below has ended: the reader sends nothing more
	defer close(stopReading)
	go func() {
		readErr <- readLines(in, int(maxLine), lines, stopReading)
	}()

	queue := make(chan *incoming, stdioQueueLen)
	var wg sync.WaitGroup
	for range maxStdioInFlight {
		wg.Go(func() {
			for in := range queue {
				serve(reqCtx, in)
			}
		})
	}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			s.logger.Info("shutting down: signal received")
			break loop
		case err = <-readErr:
			if err != nil {
				s.logger.Error("reading stdin failed", "err", err)
			} else {
				s.logger.Info("shutting down: stdin closed")
			}
			break loop
		case line := <-lines:
			if line == nil {
				write(s.marshalResponse(errorResponse(nil, codeInvalidRequest,
					fmt.Sprintf("invalid request: message larger than TASKMAN_MAX_REQUEST_BYTES (%d bytes)", maxLine))))
				continue
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if err := jsonMessageShape.check(line); err != nil {
				write(s.marshalResponse(errorResponse(nil, codeInvalidRequest, "invalid request: "+err.Error())))
				continue
			}
			in := parseIncoming(line)
			if stdioControl(in) {
				serve(reqCtx, in)
				continue
			}
			select {
			case queue <- in:
			default:
				var id json.RawMessage
				if in.single != nil {
					id = in.single.id
				}
				write(s.encode(s.reject(id, &rpcError{Code: codeOverloaded, Message: fmt.Sprintf(
					"server busy: %d requests in progress and %d waiting; retry after one of them is answered", maxStdioInFlight, stdioQueueLen)})))
			}
		}
	}
	close(queue)

	s.subs.close() // subscriptions/listen streams answer and end
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	dctx, cancelDrain := clock.drain()
	defer cancelDrain()
	select {
	case <-drained:
	case <-dctx.Done():
		// Cancelled requests still write their error answers.
		s.logger.Warn("shutdown deadline reached; cancelling requests still in flight")
		cancelReqs()
		sess.cancelAll()
		<-drained
	}
	return err
}

// stdioControl reports whether the reading loop answers the parsed line
// itself because it is quick and must never wait behind other work: a
// notification (cancellation among them), a response, a ping, a message
// that is not a valid request (answered with an error), and initialize,
// which must be done before the requests read after it are served (they
// would otherwise race it to a worker and find the session uninitialized).
// Batches and every other request are work for the queue.
func stdioControl(in *incoming) bool {
	m := in.single
	switch {
	case in.batch != nil:
		return false
	case m == nil:
		return true // not JSON
	}
	return m.invalid != nil || m.response || m.id == nil || m.method == "ping" || m.method == "initialize"
}

// readLines sends each line of r (without its newline) to lines, and nil
// for a line longer than max, which is skipped. It returns nil at EOF, and
// as soon as stop is closed once a line is read.
func readLines(r io.Reader, max int, lines chan<- []byte, stop <-chan struct{}) error {
	br := bufio.NewReaderSize(r, stdioReadBuffer)
	send := func(line []byte) bool {
		select {
		case lines <- line:
			return true
		case <-stop:
			return false
		}
	}
	for {
		var line []byte
		tooLong := false
		for {
			frag, err := br.ReadSlice('\n')
			if !tooLong {
				if len(line)+len(frag) > max+1 { // +1: the newline is not part of the message
					tooLong, line = true, nil
				} else {
					line = append(line, frag...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				return err
			}
			if tooLong {
				if !send(nil) {
					return nil
				}
			} else if len(line) > 0 {
				if !send(bytes.TrimRight(line, "\r\n")) {
					return nil
				}
			}
			if err == io.EOF {
				return nil
			}
			break
		}
	}
}
