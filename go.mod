module github.com/ferry-dev/ferry

go 1.26

require (
	github.com/Masterminds/semver/v3 v3.3.1 // indirect
	github.com/google/go-containerregistry v0.22.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/term v0.35.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
