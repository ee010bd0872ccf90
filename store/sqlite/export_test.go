package sqlite

import "database/sql"

// RawDB exposes the writer connection to the tests.
func RawDB(s *Store) *sql.DB { return s.writer }
