// Command echo is the README's echo example (echo v5).
package main

import (
	"cmp"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/labstack/echo/v5"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/echosession"
	"github.com/crumbs-go/session/cookiestore"
)

func main() {
	m := manager()
	e := echo.New()
	// readme:begin
	e.Use(echosession.Middleware(m))
	e.GET("/", func(c *echo.Context) error {
		views, _ := session.Update(echosession.From(c), "views", func(n int) int { return n + 1 })
		return c.String(http.StatusOK, fmt.Sprintf("views=%d\n", views))
	})
	// readme:end
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), e))
}

func manager() *session.Manager {
	secrets, err := session.ParseSecrets(os.Getenv("SESSION_SECRETS"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := cookiestore.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		log.Fatal(err)
	}
	return m
}
