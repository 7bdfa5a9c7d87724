package model

import (
	"net/url"
	"strconv"
)

// MaxPerPage bounds every list, in the API and the portal.
const (
	DefaultPerPage = 50
	MaxPerPage     = 500
)

// Page is the pagination part of every list filter.
type Page struct {
	Page    int // 1-based
	PerPage int
}

// Offset of the first row of the page.
func (p Page) Offset() int { return (p.Page - 1) * p.PerPage }

// ParsePage reads page and per_page from a query, naming the bad field.
func ParsePage(q url.Values, v *Validator) Page {
	p := Page{Page: 1, PerPage: DefaultPerPage}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		v.Check(err == nil && n >= 1 && n <= 1_000_000, "page", "must be a whole number from 1")
		if err == nil && n >= 1 {
			p.Page = n
		}
	}
	if s := q.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		v.Check(err == nil && n >= 1 && n <= MaxPerPage, "per_page", "must be a whole number from 1 to %d", MaxPerPage)
		if err == nil && n >= 1 && n <= MaxPerPage {
			p.PerPage = n
		}
	}
	return p
}

// List is one page of a list with its total.
type List[T any] struct {
	Items   []T `json:"items"`
	Total   int `json:"total"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
}

// Pages is the number of pages of the list.
func (l List[T]) Pages() int {
	if l.PerPage == 0 {
		return 1
	}
	n := (l.Total + l.PerPage - 1) / l.PerPage
	if n < 1 {
		n = 1
	}
	return n
}
