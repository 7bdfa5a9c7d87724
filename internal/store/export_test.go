package store

// SetAfterAutoPRead sets a function run between a cache miss's read and its
// put (nil: none), for the race test of the AutoP cache.
func SetAfterAutoPRead(f func()) { afterAutoPRead = f }

// OpenAt opens dsn migrated up to version only, for the tests of later
// migrations; store.Open on the same dsn applies the rest.
var OpenAt = open
