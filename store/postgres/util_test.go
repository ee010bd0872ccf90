package postgres_test

import (
	"runtime"
	"time"
)

// runtimeGosched yields while polling a condition the store's watcher
// changes; the short sleep keeps the loop from burning a shared CPU.
func runtimeGosched() {
	runtime.Gosched()
	time.Sleep(time.Millisecond)
}
