; Inno Setup script: dist\Mneme-<version>-setup.exe from the PyInstaller bundle in dist\mneme\.
;
;   .venv\Scripts\pyinstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\mneme.spec
;   "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" /DAppVersion=0.1.0 packaging\windows\mneme.iss
;
; (Inno Setup 6: https://jrsoftware.org/isdl.php, or `winget install JRSoftware.InnoSetup`.)
; Paths below are relative to this script's folder. The installer installs for the current user
; (no administrator rights; %LOCALAPPDATA%\Programs\Mneme) unless the user picks "all users".
; Uninstalling removes the program, never the user's memory: the encrypted database and settings
; live in the user's profile (%LOCALAPPDATA%\mneme) and its key in Windows Credential Manager.

#define AppName "Mneme"
#define AppExe "mneme.exe"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
; AppId identifies the product for upgrades and uninstall: never change it.
AppId={{10B9DEB8-3188-4F47-9588-147DF573E7FC}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Mneme
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=Mneme-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\mneme.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\mneme\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the bundle's libraries completely: stale files from an older version
; (another torch or Qt) must not be loaded next to the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
