module github.com/imslab/imslab

go 1.26

require (
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25
	github.com/spf13/cobra v1.10.2
	github.com/wmnsk/milenage v1.2.1
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)
