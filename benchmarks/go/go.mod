module tricolor/gclab

go 1.19
