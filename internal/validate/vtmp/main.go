package main

import (
	"fmt"
	"os"

	"github.com/infraplane/infraplane/internal/validate"
)

func main() {
	r, err := validate.Validate(os.Args[1], validate.Options{RefKinds: []string{"Topic"}})
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	r.Format(os.Stdout, os.Args[2])
}
