package fakeclock

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestClock(t *testing.T) {
	start := time.Unix(1000, 0)
	c := New(start)
	assert.Equal(t, start, c.Now())
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.Advance(time.Second); _ = c.Now() }()
	}
	wg.Wait()
	assert.Equal(t, start.Add(10*time.Second), c.Now())
	c.Set(start)
	assert.Equal(t, start, c.Now())
}
