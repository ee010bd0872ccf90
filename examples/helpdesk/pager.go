package main

import (
	"net/http"
	"net/url"
	"strconv"
)

// defaultPageSize is how many rows a list shows per page.
const defaultPageSize = 25

// pager is the "previous / page N of M / next" bar of a list.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string // links, "" at the ends
	// The bar's words, in the page's language.
	Label, PrevText, NextText, Of string
}

// paginate returns the bounds of the current page of n rows, read from
// the query parameter param ("page"), and its pager. A page out of range
// shows the nearest one.
func (a *App) paginate(r *http.Request, p *page, param string, n int) (lo, hi int, pg pager) {
	return a.pageOf(r.URL.Path, r.URL.Query(), p, param, n)
}

// pageOf is paginate for a list whose links go to path?q: the current
// page is q's param, and the links keep q's other parameters. A list
// shown in part on another page (a contract's mail on the Messages
// overview) links to the page that shows it whole.
func (a *App) pageOf(path string, q url.Values, p *page, param string, n int) (lo, hi int, pg pager) {
	size := a.pageSize
	if size <= 0 {
		size = defaultPageSize
	}
	pages := max(1, (n+size-1)/size)
	page, err := strconv.Atoi(q.Get(param))
	if err != nil || page < 1 {
		page = 1
	}
	page = min(page, pages)
	lo, hi = (page-1)*size, min(n, page*size)
	link := func(n int) string {
		l := url.Values{}
		for k, vs := range q {
			if k != "done" {
				l[k] = vs
			}
		}
		l.Set(param, strconv.Itoa(n))
		return path + "?" + l.Encode()
	}
	pg = pager{Page: page, Pages: pages, Total: n, Label: p.T("common.pages"), PrevText: p.T("common.prev"),
		NextText: p.T("common.next"), Of: p.T("common.pageof", page, pages, n)}
	if page > 1 {
		pg.Prev = link(page - 1)
	}
	if page < pages {
		pg.Next = link(page + 1)
	}
	return lo, hi, pg
}
