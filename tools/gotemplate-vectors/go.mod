module omd/tools/gotemplate-vectors

go 1.19
