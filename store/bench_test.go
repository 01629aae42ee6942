package store

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkIngest measures Ingest of 1 MB objects, fsync included
// (the spool write is part of the loop, as dimse does it).
func BenchmarkIngest(b *testing.B) {
	for _, par := range []int{1, 4} {
		b.Run(fmt.Sprintf("senders=%d", par), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const size = 1 << 20
			var n atomic.Int64
			b.SetBytes(size)
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					o := obj{SOP: fmt.Sprintf("2.%d", i), Study: fmt.Sprintf("2.%d", i%10), Series: "2.0", Pixels: size, Fill: byte(i)}
					if _, err := s.Ingest(spool(b, s, o.bytes()), Source{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
