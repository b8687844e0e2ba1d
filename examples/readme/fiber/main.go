// Command fiber is the README's fiber example (fiber v3).
package main

import (
	"cmp"
	"fmt"
	"log"
	"os"

	"github.com/gofiber/fiber/v3"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/fibersession"
	"github.com/crumbs-go/session/cookiestore"
)

func main() {
	m := manager()
	app := fiber.New(fiber.Config{ReadBufferSize: fibersession.ReadBufferSize(m)}) // room for chunked cookies
	// readme:begin
	app.Use(fibersession.New(m))
	app.Get("/", func(c fiber.Ctx) error {
		views, _ := session.Update(fibersession.From(c), "views", func(n int) int { return n + 1 })
		return c.SendString(fmt.Sprintf("views=%d\n", views))
	})
	// readme:end
	log.Fatal(app.Listen(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), fiber.ListenConfig{DisableStartupMessage: true}))
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
