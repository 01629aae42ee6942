package share

import bolt "go.etcd.io/bbolt"

// update and batch are the only ways share writes share.db (a test keeps
// it so): each counts the write in s.writes after it commits, so a reader
// that noted s.writes before its read knows whether anything it read may
// have changed since (Resolve keeps links on that).
func (s *Service) update(fn func(tx *bolt.Tx) error) error {
	defer s.writes.Add(1)
	return s.db.Update(fn)
}

func (s *Service) batch(fn func(tx *bolt.Tx) error) error {
	defer s.writes.Add(1)
	return s.db.Batch(fn)
}
