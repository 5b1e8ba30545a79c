package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// timeFormatOut is the kubelet's RFC3339NanoFixed: `kubectl logs --timestamps`
// prints timestamps of one width.
const timeFormatOut = "2006-01-02T15:04:05.000000000Z07:00"

// followPollInterval is how often a follower looks for new data or a
// rotated file. Upstream waits on fsnotify with a 1 s forced check; a short
// poll is as cheap for the handful of followers a node has.
const followPollInterval = 200 * time.Millisecond

// ReadOptions are the `kubectl logs` options (PodLogOptions as the kubelet
// reads them).
type ReadOptions struct {
	// Follow keeps reading new records until the container stops running.
	Follow bool
	// Since skips records older than this time (zero: no bound).
	Since time.Time
	// Tail starts that many lines from the end (nil: from the start).
	Tail *int64
	// Timestamps prefixes every record with its timestamp.
	Timestamps bool
	// LimitBytes stops after this many bytes of output (nil: no limit).
	LimitBytes *int64
	// Running tells a follower whether the container still runs; once it
	// reports false the reader returns at the end of the file. nil means the
	// container is not running.
	Running func(ctx context.Context) (bool, error)
}

// errLimitReached ends a read at LimitBytes.
var errLimitReached = errors.New("log limit reached")

// message is one parsed CRI record.
type message struct {
	timestamp time.Time
	stream    StreamType
	log       []byte
}

// parseCRILog parses "<timestamp> <stream> <tag>[:<more tags>] <content>\n".
// The content of a full (F) record keeps its newline; a partial (P) record's
// content has none, so consecutive partials join into one line on output.
func parseCRILog(line []byte, msg *message) error {
	idx := bytes.IndexByte(line, ' ')
	if idx < 0 {
		return fmt.Errorf("timestamp is not found")
	}
	ts, err := time.Parse(time.RFC3339Nano, string(line[:idx]))
	if err != nil {
		return fmt.Errorf("unexpected timestamp format %q: %w", time.RFC3339Nano, err)
	}
	msg.timestamp = ts
	line = line[idx+1:]
	idx = bytes.IndexByte(line, ' ')
	if idx < 0 {
		return fmt.Errorf("stream type is not found")
	}
	msg.stream = StreamType(line[:idx])
	if msg.stream != Stdout && msg.stream != Stderr {
		return fmt.Errorf("unexpected stream type %q", msg.stream)
	}
	line = line[idx+1:]
	idx = bytes.IndexByte(line, ' ')
	if idx < 0 {
		return fmt.Errorf("log tag is not found")
	}
	tag, _, _ := bytes.Cut(line[:idx], []byte(":"))
	if string(tag) == tagPartial && len(line) > 0 && line[len(line)-1] == '\n' {
		line = line[:len(line)-1]
	}
	msg.log = line[idx+1:]
	return nil
}

// logWriter applies since, timestamps and the byte limit to parsed records.
type logWriter struct {
	stdout, stderr io.Writer
	opts           *ReadOptions
	remain         int64
}

func (w *logWriter) write(msg *message) error {
	if msg.timestamp.Before(w.opts.Since) {
		return nil
	}
	line := msg.log
	if w.opts.Timestamps {
		prefix := append([]byte(msg.timestamp.Format(timeFormatOut)), ' ')
		line = append(prefix, line...)
	}
	if int64(len(line)) > w.remain {
		line = line[:w.remain]
	}
	out := w.stdout
	if msg.stream == Stderr {
		out = w.stderr
	}
	n, err := out.Write(line)
	w.remain -= int64(n)
	if err != nil {
		return err
	}
	if n < len(line) {
		return io.ErrShortWrite
	}
	if w.remain <= 0 {
		return errLimitReached
	}
	return nil
}

// ReadLogs writes the container log at path to stdout and stderr with
// `kubectl logs` semantics. With Follow it waits for new records until the
// container stops running (opts.Running) or ctx ends, and moves on to the new
// file when the log is rotated.
func ReadLogs(ctx context.Context, path string, opts ReadOptions, stdout, stderr io.Writer) error {
	if evaluated, err := filepath.EvalSymlinks(path); err == nil {
		path = evaluated
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("failed to open log file %q: %w", path, err)
	}
	defer func() { f.Close() }()

	tail := int64(-1)
	if opts.Tail != nil {
		tail = *opts.Tail
	}
	start, err := findTailLineStart(f, tail)
	if err != nil {
		return fmt.Errorf("failed to tail %d lines of log file %q: %w", tail, path, err)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("failed to seek %d in log file %q: %w", start, path, err)
	}

	w := &logWriter{stdout: stdout, stderr: stderr, opts: &opts, remain: 1<<63 - 1}
	if opts.LimitBytes != nil && *opts.LimitBytes >= 0 {
		w.remain = *opts.LimitBytes
	}
	limited := tail >= 0 && !opts.Follow
	remaining := tail
	running := true
	r := bufio.NewReader(f)
	var msg message
	for {
		if limited && remaining == 0 {
			return nil
		}
		line, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("failed to read log file %q: %w", path, err)
		}
		if err == io.EOF {
			if !opts.Follow {
				if len(line) == 0 {
					return nil
				}
				// An unterminated last record: show what there is.
			} else {
				if !running {
					return nil
				}
				// Read an incomplete record again once it is complete.
				if _, err := f.Seek(-int64(len(line)), io.SeekCurrent); err != nil {
					return fmt.Errorf("failed to reset seek in log file %q: %w", path, err)
				}
				rotated, stillRunning, err := waitForLogs(ctx, f, path, opts)
				if err != nil {
					return err
				}
				running = stillRunning
				if rotated {
					nf, err := os.Open(path)
					if err == nil {
						f.Close()
						f = nf
					}
				}
				r.Reset(f)
				continue
			}
		}
		msg = message{}
		if perr := parseCRILog(line, &msg); perr != nil {
			// Upstream skips lines it cannot parse.
			if err == io.EOF {
				return nil
			}
			continue
		}
		if werr := w.write(&msg); werr != nil {
			if werr == errLimitReached {
				return nil
			}
			return werr
		}
		if limited {
			remaining--
		}
		if err == io.EOF {
			return nil
		}
	}
}

// waitForLogs waits until the file grows, is replaced by a rotation, or the
// container stops. It reports whether the file at path is a new one and
// whether the container still runs (when it does not, the caller reads to
// the end and returns).
func waitForLogs(ctx context.Context, f *os.File, path string, opts ReadOptions) (rotated, running bool, err error) {
	for {
		running = false
		if opts.Running != nil {
			if running, err = opts.Running(ctx); err != nil {
				return false, false, err
			}
		}
		cur, _ := f.Seek(0, io.SeekCurrent)
		if st, err := f.Stat(); err == nil && st.Size() > cur {
			return false, running, nil
		}
		if st, err := os.Stat(path); err == nil {
			if fst, ferr := f.Stat(); ferr == nil && !os.SameFile(st, fst) {
				return true, true, nil
			}
		}
		if !running {
			return false, false, nil
		}
		select {
		case <-ctx.Done():
			return false, false, ctx.Err()
		case <-time.After(followPollInterval):
		}
	}
}

// findTailLineStart returns the offset of the n-th line from the end of f
// (0 for n < 0 or a file with fewer lines).
func findTailLineStart(f io.ReadSeeker, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	const blockSize = 1024
	var (
		left  = size
		count int64
		buf   []byte
	)
	// Read blocks backwards until more than n newlines are in hand: the
	// file's final newline ends the last line rather than starting a new one.
	for left > 0 && count <= n {
		chunk := int64(blockSize)
		if left < chunk {
			chunk = left
		}
		left -= chunk
		block := make([]byte, chunk)
		if _, err := f.Seek(left, io.SeekStart); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(f, block); err != nil {
			return 0, err
		}
		count += int64(bytes.Count(block, []byte{'\n'}))
		buf = append(block, buf...)
	}
	for ; count > n; count-- {
		idx := bytes.IndexByte(buf, '\n') + 1
		buf = buf[idx:]
		left += int64(idx)
	}
	return left, nil
}
