package main

import (
	"fmt"
	"os"

	yamlv2 "go.yaml.in/yaml/v2"
	yamlv3 "go.yaml.in/yaml/v3"
	sigyaml "sigs.k8s.io/yaml"
)

func main() {
	data, _ := os.ReadFile(os.Args[1])
	var a, b any
	fmt.Println("v3:", yamlv3.Unmarshal(data, &a))
	fmt.Println("v2:", yamlv2.Unmarshal(data, &b))
	var c map[string]any
	fmt.Println("sigs:", sigyaml.Unmarshal(data, &c))
}
