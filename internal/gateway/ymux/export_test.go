package ymux

// SetNextID sets the id of the next stream OpenStream opens: a session
// reaches the last ids after 2^31 streams.
func (s *Session) SetNextID(id uint32) {
	s.mu.Lock()
	s.nextID = id
	s.mu.Unlock()
}
