package store

// QueryIndexes are the indexes queries name (indexes.go), each with its
// table.
var QueryIndexes = queryIndexes
