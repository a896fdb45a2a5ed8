from medclass.cli.app import main

main()
