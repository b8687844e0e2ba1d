package crypto

//go:generate go run gen_vectors.go
