module github.com/crumbs-go/session/tools/vulncheck

go 1.26.0
