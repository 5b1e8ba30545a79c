// Package logs writes and reads container logs in the CRI log format, the
// format the kubelet and `kubectl logs` expect under /var/log/pods:
//
//	2016-10-06T00:17:09.669794202Z stdout F a whole line
//	2016-10-06T00:17:09.669794203Z stderr P the first 16 KiB of a longer line
//
// A Writer takes a container's stdout and stderr (through Stream) and appends
// timestamped, tagged lines to one file, rotating it by size; ReadLogs turns
// such a file back into the streams with `kubectl logs` semantics (tail,
// since, timestamps, limit-bytes, follow).
//
//	w, _ := logs.NewWriter("/var/log/pods/ns_pod_uid/app/0.log", logs.WriterOptions{})
//	go io.Copy(w.Stream(logs.Stdout), stdoutPipe)
package logs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// StreamType names the stream a log line came from.
type StreamType string

const (
	// Stdout is the container's standard output.
	Stdout StreamType = "stdout"
	// Stderr is the container's standard error.
	Stderr StreamType = "stderr"
)

const (
	tagFull    = "F"
	tagPartial = "P"

	// DefaultMaxLineSize is containerd's max_container_log_line_size: longer
	// lines are split into partial (P) records of this size.
	DefaultMaxLineSize = 16 * 1024
	// DefaultMaxSize and DefaultMaxFiles are the kubelet's containerLogMaxSize
	// and containerLogMaxFiles.
	DefaultMaxSize  = 10 * 1024 * 1024
	DefaultMaxFiles = 5

	// rotatedSuffixFormat is the suffix the kubelet gives rotated logs (0.log.20060102-150405).
	rotatedSuffixFormat = "20060102-150405"
)

// WriterOptions tune a Writer; zero values take the defaults above.
type WriterOptions struct {
	// MaxLineSize is the longest record written as one line; longer lines
	// become several records tagged P, the last one F.
	MaxLineSize int
	// MaxSize rotates the file once it grows past this many bytes; negative
	// disables rotation.
	MaxSize int64
	// MaxFiles is how many files (the current one included) are kept.
	MaxFiles int
	// Now is the clock, for tests.
	Now func() time.Time
}

// Writer appends CRI log records to a file. Both streams of a container
// share one Writer so that records are never interleaved mid-line.
type Writer struct {
	path string
	opts WriterOptions

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  bytes.Buffer
}

// NewWriter opens (appending to) or creates the log file at path and its directory.
func NewWriter(path string, opts WriterOptions) (*Writer, error) {
	if opts.MaxLineSize <= 0 {
		opts.MaxLineSize = DefaultMaxLineSize
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	w := &Writer{path: path, opts: opts}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Path is the file the writer appends to.
func (w *Writer) Path() string { return w.path }

// Close closes the file. Streams still copying into the writer get errors.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Reopen closes and reopens the file, for a log file removed behind our back
// (the CRI's ReopenContainerLog).
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	return w.open()
}

// record writes one CRI record; content holds no newline.
func (w *Writer) record(stream StreamType, tag string, content [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	w.buf.Reset()
	w.buf.WriteString(w.opts.Now().UTC().Format(time.RFC3339Nano))
	w.buf.WriteByte(' ')
	w.buf.WriteString(string(stream))
	w.buf.WriteByte(' ')
	w.buf.WriteString(tag)
	w.buf.WriteByte(' ')
	for _, c := range content {
		w.buf.Write(c)
	}
	w.buf.WriteByte('\n')
	n, err := w.f.Write(w.buf.Bytes())
	w.size += int64(n)
	if err != nil {
		return err
	}
	if w.opts.MaxSize > 0 && w.size >= w.opts.MaxSize {
		// A failed rotation keeps appending to the current file: logs matter
		// more than the size bound.
		_ = w.rotate()
	}
	return nil
}

// rotate renames the current file with a timestamp suffix, as the kubelet's
// container log manager does, opens a fresh one and removes the oldest
// rotated files beyond MaxFiles.
func (w *Writer) rotate() error {
	rotated := w.path + "." + w.opts.Now().Format(rotatedSuffixFormat)
	if _, err := os.Stat(rotated); err == nil {
		// Two rotations within a second: keep both.
		for i := 1; ; i++ {
			c := fmt.Sprintf("%s.%d", rotated, i)
			if _, err := os.Stat(c); os.IsNotExist(err) {
				rotated = c
				break
			}
		}
	}
	if err := os.Rename(w.path, rotated); err != nil {
		return err
	}
	w.f.Close()
	w.f = nil
	if err := w.open(); err != nil {
		return err
	}
	old := RotatedFiles(w.path)
	for len(old) > w.opts.MaxFiles-1 {
		os.Remove(old[0])
		old = old[1:]
	}
	return nil
}

// RotatedFiles lists the rotated files of a log path, oldest first.
func RotatedFiles(path string) []string {
	matches, _ := filepath.Glob(path + ".*")
	type rotated struct {
		path, stamp string
		n           int
	}
	var found []rotated
	for _, m := range matches {
		suffix := strings.TrimPrefix(m, path+".")
		stamp, seq, _ := strings.Cut(suffix, ".")
		if _, err := time.Parse(rotatedSuffixFormat, stamp); err != nil {
			continue
		}
		n := 0
		if seq != "" {
			if _, err := fmt.Sscanf(seq, "%d", &n); err != nil {
				continue
			}
		}
		found = append(found, rotated{m, stamp, n})
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].stamp != found[j].stamp {
			return found[i].stamp < found[j].stamp
		}
		return found[i].n < found[j].n
	})
	out := make([]string, len(found))
	for i, r := range found {
		out[i] = r.path
	}
	return out
}

// Stream returns the writer for one stream. Writes are split into lines;
// a line still open when the stream is closed is written as partial.
func (w *Writer) Stream(stream StreamType) io.WriteCloser {
	pr, pw := io.Pipe()
	s := &streamWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		err := w.copyLines(stream, pr)
		pr.CloseWithError(err)
	}()
	return s
}

// CopyFrom copies r into the log as stream until EOF, as containerd's CRI
// logger does: lines end at '\n' (which is not stored), lines longer than
// MaxLineSize are split into P records, and an unterminated last line is a P
// record.
func (w *Writer) CopyFrom(stream StreamType, r io.Reader) error {
	return w.copyLines(stream, r)
}

func (w *Writer) copyLines(stream StreamType, r io.Reader) error {
	max := w.opts.MaxLineSize
	br := bufio.NewReaderSize(r, max)
	var (
		parts  [][]byte
		length int
	)
	for {
		chunk, err := br.ReadSlice('\n')
		full := err == nil
		if full {
			chunk = chunk[:len(chunk)-1]
		}
		if len(chunk) > 0 {
			parts = append(parts, append([]byte(nil), chunk...))
			length += len(chunk)
		}
		for length > max {
			// Cut exactly max bytes into a partial record.
			var rec [][]byte
			n := 0
			for n < max {
				p := parts[0]
				if n+len(p) <= max {
					rec = append(rec, p)
					n += len(p)
					parts = parts[1:]
					continue
				}
				rec = append(rec, p[:max-n])
				parts[0] = p[max-n:]
				n = max
			}
			if werr := w.record(stream, tagPartial, rec); werr != nil {
				return werr
			}
			length -= max
		}
		switch {
		case full:
			if werr := w.record(stream, tagFull, parts); werr != nil {
				return werr
			}
			parts, length = nil, 0
		case err == bufio.ErrBufferFull:
			continue
		default:
			if length > 0 {
				if werr := w.record(stream, tagPartial, parts); werr != nil {
					return werr
				}
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

type streamWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func (s *streamWriter) Write(p []byte) (int, error) { return s.pw.Write(p) }

// Close flushes an open line and waits until it is in the file.
func (s *streamWriter) Close() error {
	err := s.pw.Close()
	<-s.done
	return err
}
