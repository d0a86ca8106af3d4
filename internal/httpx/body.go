package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxBody bounds every response body the SDK reads from a server. Token responses,
// discovery documents and key sets are a few KiB; 1 MiB leaves room for large key sets
// while keeping a hostile server from exhausting memory.
const DefaultMaxBody = 1 << 20

// ErrBodyTooLarge reports a response body longer than the limit it was read with.
var ErrBodyTooLarge = errors.New("response body exceeds size limit")

// ReadBody reads resp.Body up to limit bytes (DefaultMaxBody when limit <= 0) and closes it.
// A longer body is an error wrapping ErrBodyTooLarge; nothing of it is returned.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w (%d bytes)", ErrBodyTooLarge, limit)
	}
	return data, nil
}

// DrainAndClose discards up to a small amount of a body we do not need, so the connection
// can be reused, then closes it.
func DrainAndClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
