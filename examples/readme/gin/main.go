// Command gin is the README's gin example.
package main

import (
	"cmp"
	"log"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/ginsession"
	"github.com/crumbs-go/session/cookiestore"
)

func main() {
	m := manager()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// readme:begin
	r.Use(ginsession.Middleware(m))
	r.GET("/", func(c *gin.Context) {
		views, _ := session.Update(ginsession.From(c), "views", func(n int) int { return n + 1 })
		c.String(http.StatusOK, "views=%d\n", views)
	})
	// readme:end
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), r))
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
