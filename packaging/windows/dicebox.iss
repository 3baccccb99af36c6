; Inno Setup 6 script of the dicebox Windows installer, around the PyInstaller folder.
;
; Built by packaging\windows\build.ps1, which passes the version and the bundle folder:
;   ISCC.exe /DAppVersion=0.4.0 /DBundleDir=C:\...\build\packaging\dist\dicebox packaging\windows\dicebox.iss
; Output: dist\dicebox-<version>-setup-x64.exe
;
; Installs per user by default (no administrator rights needed, into %LOCALAPPDATA%\Programs),
; or for all users (Program Files) when the user picks that in the first page. Start menu entry,
; optional desktop icon, optional `dicebox` command on the PATH, and an uninstaller that removes
; the program and the PATH entry. The user's data (%LOCALAPPDATA%\dicebox) is never touched.

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=x.y.z (build.ps1 does)
#endif
#ifndef NumericVersion
  #define NumericVersion AppVersion
#endif
#ifndef BundleDir
  #define BundleDir "..\..\build\packaging\dist\dicebox"
#endif
#define AppName "dicebox"
#define GuiExe "dicebox-gui.exe"

[Setup]
; AppId identifies the installation for upgrades and the uninstaller: never change it.
AppId={{5E0B6F0C-4F0B-4D52-9C55-2B1D9E3A7C41}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=dicebox developers
AppComments=Teach a computer to recognise what a camera sees
VersionInfoVersion={#NumericVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
; TensorFlow's Windows wheels are x64 only.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-setup-x64
SetupIconFile=..\..\assets\dicebox.ico
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName} {#AppVersion}
; ~1 GB of files, mostly TensorFlow: LZMA2 on a solid archive gets it to about a quarter.
Compression=lzma2/max
SolidCompression=yes
LZMAUseSeparateProcess=yes
WizardStyle=modern
; The optional PATH entry is broadcast to running programs (new terminals see it).
ChangesEnvironment=yes
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the dicebox command to the PATH (for dicebox serve, train, ...)"; GroupDescription: "Command line:"; Flags: unchecked

[Files]
; The whole PyInstaller folder: dicebox.exe (console: the CLI), dicebox-gui.exe (the same
; program without a console window) and _internal\ (Python, Qt, TensorFlow).
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
; dicebox-gui.exe: no console window behind the GUI. Its one-click local service runs
; `dicebox-gui.exe serve` (sys.executable), also without a console window.
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "gui"; WorkingDir: "{app}"; Comment: "Teach a computer to recognise what a camera sees"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "gui"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#GuiExe}"; Parameters: "gui"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only if empty: {app} holds nothing but installed files (the app writes to its data folder).
Type: dirifempty; Name: "{app}"

[Code]
{ The PATH entry: HKCU\Environment for a per-user install, the machine's environment for an
  all-users one. Added once, removed on uninstall; other entries are left as they were. }

function EnvironmentRoot(): Integer;
begin
  if IsAdminInstallMode then
    Result := HKEY_LOCAL_MACHINE
  else
    Result := HKEY_CURRENT_USER;
end;

function EnvironmentKey(): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

procedure AddToPath(Dir: String);
var
  Paths: String;
begin
  if not RegQueryStringValue(EnvironmentRoot(), EnvironmentKey(), 'Path', Paths) then
    Paths := '';
  if Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') > 0 then
    exit;
  if (Paths <> '') and (Copy(Paths, Length(Paths), 1) <> ';') then
    Paths := Paths + ';';
  RegWriteExpandStringValue(EnvironmentRoot(), EnvironmentKey(), 'Path', Paths + Dir);
end;

procedure RemoveFromPath(Dir: String);
var
  Paths, Wrapped: String;
  P: Integer;
begin
  if not RegQueryStringValue(EnvironmentRoot(), EnvironmentKey(), 'Path', Paths) then
    exit;
  { Search ';' + Paths + ';' for ';' + Dir + ';' so only a whole entry matches. }
  Wrapped := ';' + Paths + ';';
  P := Pos(';' + Uppercase(Dir) + ';', Uppercase(Wrapped));
  if P = 0 then
    exit;
  { Drop Dir and the ';' after it (Dir starts at P + 1), then unwrap. }
  Delete(Wrapped, P + 1, Length(Dir) + 1);
  Paths := Copy(Wrapped, 2, Length(Wrapped) - 2);
  RegWriteExpandStringValue(EnvironmentRoot(), EnvironmentKey(), 'Path', Paths);
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if (CurStep = ssPostInstall) and WizardIsTaskSelected('addtopath') then
    AddToPath(ExpandConstant('{app}'));
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usUninstall then
    RemoveFromPath(ExpandConstant('{app}'));
end;
