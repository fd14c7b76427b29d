package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Limits of the stdio transport.
const (
	// stdioReadBuffer is the line reader's buffer; longer lines are read
	// in pieces, up to the request size limit.
	stdioReadBuffer = 64 << 10
	// maxStdioInFlight bounds concurrent requests from one stdio client;
	// past it, reading pauses, which pushes back on the client.
	maxStdioInFlight = 64
)

// serveStdio serves one client over newline-delimited JSON on in and out
// until in ends or ctx is cancelled (a signal). In-flight requests then get
// until the shutdown deadline to finish; their answers are still written.
func (s *server) serveStdio(ctx context.Context, in io.Reader, out io.Writer) error {
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

	// Requests run on a context that the signal does not cancel, so they
	// can finish during the drain; it is cancelled at the deadline.
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		readErr <- readLines(in, int(s.cfg.MaxRequestBytes), lines)
	}()

	sem := make(chan struct{}, maxStdioInFlight)
	var wg sync.WaitGroup
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
					fmt.Sprintf("invalid request: message larger than TASKMAN_MAX_REQUEST_BYTES (%d bytes)", s.cfg.MaxRequestBytes))))
				continue
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if b := s.handle(reqCtx, sess, line, notify); b != nil {
					write(b)
				}
			}()
		}
	}

	s.subs.close() // subscriptions/listen streams answer and end
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		s.logger.Warn("shutdown deadline reached; cancelling requests still in flight")
		cancelReqs()
		sess.cancelAll()
		<-drained
	}
	return err
}

// readLines sends each line of r (without its newline) to lines, and nil
// for a line longer than max, which is skipped. It returns nil at EOF.
func readLines(r io.Reader, max int, lines chan<- []byte) error {
	br := bufio.NewReaderSize(r, stdioReadBuffer)
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
				lines <- nil
			} else if len(line) > 0 {
				lines <- bytes.TrimRight(line, "\r\n")
			}
			if err == io.EOF {
				return nil
			}
			break
		}
	}
}
