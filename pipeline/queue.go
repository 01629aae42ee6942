package pipeline

import (
	"context"
	"sync"
	"time"
)

// workQueue is an unbounded FIFO of SOP Instance UIDs, without duplicates
// among the waiting entries.
type workQueue struct {
	mu      sync.Mutex
	items   []string
	waiting map[string]bool
	busy    int
	later   int // items waiting for their retry delay (pushLater)
	signal  chan struct{}
}

func newWorkQueue() *workQueue {
	return &workQueue{waiting: map[string]bool{}, signal: make(chan struct{}, 1)}
}

func (q *workQueue) push(sop string) {
	q.mu.Lock()
	if !q.waiting[sop] {
		q.waiting[sop] = true
		q.items = append(q.items, sop)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// pushLater queues sop once delay has passed; until then the queue is not
// idle.
func (q *workQueue) pushLater(sop string, delay time.Duration) {
	q.mu.Lock()
	q.later++
	q.mu.Unlock()
	time.AfterFunc(delay, func() {
		q.push(sop)
		q.mu.Lock()
		q.later--
		q.mu.Unlock()
	})
}

// pop waits for an item; false when ctx ends.
func (q *workQueue) pop(ctx context.Context) (string, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			sop := q.items[0]
			q.items = q.items[1:]
			delete(q.waiting, sop)
			q.busy++
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				select {
				case q.signal <- struct{}{}:
				default:
				}
			}
			return sop, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false
		case <-q.signal:
		}
	}
}

// done marks a popped item finished.
func (q *workQueue) done() {
	q.mu.Lock()
	q.busy--
	q.mu.Unlock()
}

func (q *workQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0 && q.busy == 0 && q.later == 0
}
